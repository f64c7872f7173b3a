"""What ``provenance index`` and ``provenance trace`` plug in: the build-time labeler and analyzer,
the trace-time query analyzer and composition.

    hooks = build_hooks(taxonomy=None, faces=True, ocr=False, zero_shot=None)
    build_index("people", "photos/", encoder="tiny", **hooks)
    trace_images(index, ["gen.png"], **trace_hooks(index))
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from .classifier import SourceClassifier
from .taxonomy import Taxonomy, load_taxonomy
from .zeroshot import ZeroShot, zero_shot_decision

WATERMARK_NOTE = ("a stock-agency watermark visible in a generated image is direct evidence that stock previews "
                  "were in the generator's training data")


class AttributionLabeler:
    """The :class:`provenance.index.builder.Labeler` of this package."""

    def __init__(self, taxonomy: Taxonomy | str | os.PathLike | None = None, *, faces: bool = True, ocr: bool = False,
                 zero_shot: bool | None = None, workers: int | None = None):
        from .pool import LabelPool

        tax = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
        self.classifier = SourceClassifier(tax)
        # Helper processes for large builds (``workers`` of them; default one per extra core).
        self.pool = LabelPool(self.classifier, workers)
        self.taxonomy = tax
        self.faces = faces
        self.ocr = ocr
        self.zero_shot_requested = zero_shot
        self.zero_shot: ZeroShot | None = None
        self.zero_shot_reason = "not decided: prepare() was not called"

    def prepare(self, identity: dict[str, Any], encoder: Any | None) -> None:
        use, reason = zero_shot_decision(self.zero_shot_requested, identity, encoder)
        self.zero_shot = ZeroShot(self.taxonomy, encoder) if use else None
        self.zero_shot_reason = reason

    def __call__(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        self.submit(rows, vectors)()

    def submit(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> Callable[[], None]:
        """Start labelling ``rows`` (helper processes share large batches); the returned function
        waits until every row's fields are in place."""
        pending = self.pool.submit(rows, self._zero_shot(vectors))
        names = self.pool.names

        def wait() -> None:
            for row, values in zip(rows, pending()):
                row.update(zip(names, values))

        return wait

    def submit_table(self, table, vectors: np.ndarray) -> Callable[[], dict[str, list]]:
        """:meth:`submit` for rows given as an Arrow table: the returned function gives the fields
        as columns (name -> values in row order), with no per-row dicts on either side."""
        pending = self.pool.submit_slim(self.pool.slim_table(table, self._zero_shot(vectors)))
        names = self.pool.names

        def wait() -> dict[str, list]:
            values = pending()
            columns = list(zip(*values)) if values else [()] * len(names)
            return {n: list(c) for n, c in zip(names, columns)}

        return wait

    def _zero_shot(self, vectors: np.ndarray) -> list | None:
        """Per-row zero-shot evidence, when zero-shot is on."""
        return self.zero_shot.evidence(vectors) if self.zero_shot is not None and len(vectors) else None

    def close(self) -> None:
        """Stop helper processes (the builder calls this when a build ends, however it ends)."""
        self.pool.close()

    def describe(self) -> dict[str, Any]:
        t = self.taxonomy
        return {
            "labeler": "provenance.attribute",
            "taxonomy": t.describe(),
            "classes": t.classes,
            "fallback": t.fallback,
            "fields": ["label", "label_confidence", "selfie", *[f"p_{c}" for c in t.classes], "evidence"],
            "signals": {
                "url": True,
                "caption": True,
                "columns": sorted(t.columns),
                "faces": self.faces,
                "ocr": self.ocr,
                "zero_shot": self.zero_shot is not None,
            },
            "learned_model": self.classifier.describe_model(),
            "zero_shot": {"enabled": self.zero_shot is not None, "reason": self.zero_shot_reason,
                          "prompts": self.zero_shot.n_prompts if self.zero_shot else 0},
        }


def make_analyzer(faces: bool, ocr: bool, taxonomy: Taxonomy) -> Callable[[Any], dict] | None:
    """The per-image analyzer run in decode threads (None when neither cue is on). Thread-safe:
    OpenCV and OCR objects are per thread."""
    if not faces and not ocr:
        return None
    marks = taxonomy.watermarks
    if faces:
        from .faces import cascade_path

        cascade_path()  # resolve OpenCV's lazily loaded data module here, not in racing decode threads

    def analyze(im) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if faces:
            from .faces import face_signals

            out.update(face_signals(im))
        if ocr:
            from .watermark import watermark_signals

            out.update(watermark_signals(im, marks))
        return out

    return analyze


def build_hooks(taxonomy: str | os.PathLike | None = None, faces: bool = True, ocr: bool = False,
                zero_shot: bool | None = None, workers: int | None = None) -> dict[str, Any]:
    """``{"labeler": ..., "analyzer": ...}`` for :func:`provenance.index.build_index`; ``workers``:
    helper processes for labelling large builds (default one per extra core, 0 for none)."""
    labeler = AttributionLabeler(taxonomy, faces=faces, ocr=ocr, zero_shot=zero_shot, workers=workers)
    return {"labeler": labeler, "analyzer": make_analyzer(faces, ocr, labeler.taxonomy)}


def trace_hooks(index, ocr: bool = True, faces: bool = True, taxonomy: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"query_analyzer": ..., "composer": ...}`` for :func:`provenance.trace.trace_images`.

    Classes come from the index's attribution record; neighbours the index holds no
    label for are labelled from their URL and caption with ``taxonomy`` (default: the
    taxonomy the index was built with when its file is still there, else the built-in one).
    """
    from .compose import compose

    attribution = (getattr(index, "manifest", None) or {}).get("attribution") or {}
    tax = load_taxonomy(taxonomy if taxonomy is not None else _taxonomy_file(attribution))
    classes = attribution.get("classes") or tax.classes
    classifier = SourceClassifier(tax)

    def label_missing(n) -> None:
        att = classifier.classify(n.url, n.caption, columns=n.meta, image=n.meta)
        n.label, n.probabilities, n.selfie = att.label, att.probabilities, att.selfie

    def composer(result) -> dict[str, Any]:
        comp = compose(result.neighbours, classes, label_missing=label_missing)
        comp["taxonomy"] = attribution.get("taxonomy", tax.describe())
        return comp

    def query_analyzer(im) -> dict[str, Any]:
        out: dict[str, Any] = {"faces": None, "selfie_framing": None, "watermark": None, "ocr": ocr}
        if faces:
            from .faces import face_signals

            f = face_signals(im)
            out.update(faces=f["img_faces"], face_frac=f["img_face_frac"], selfie_framing=f["img_selfie_framing"])
        if ocr:
            from .watermark import match_watermark, read_text

            found = match_watermark(read_text(im), tax.watermarks)
            if found:
                classes_of = sorted({c for c, _ in tax.watermarks.get(found["name"], ())})
                out["watermark"] = found["name"]
                out["watermark_detail"] = {**found, "classes": classes_of, "note": WATERMARK_NOTE}
        return out

    return {"query_analyzer": query_analyzer if (ocr or faces) else None, "composer": composer}


def _taxonomy_file(attribution: dict[str, Any]) -> str | None:
    sources = (attribution.get("taxonomy") or {}).get("sources") or []
    user = [s for s in sources if s != "builtin"]
    if user and os.path.exists(user[-1]):
        return user[-1]
    return None


def with_attribution(index, kwargs: dict[str, Any], *, text: bool = False) -> dict[str, Any]:
    """``kwargs`` of :meth:`Index.trace` / ``trace_text`` with the CLI's attribution defaults added.

    Options read (and removed): ``attribution`` (default True: source composition of each
    result), ``ocr`` and ``faces`` (default True: signals read off each query image, as
    ``provenance trace`` does), ``taxonomy``. A ``composer`` or ``query_analyzer`` given by
    the caller wins."""
    out = dict(kwargs)
    attribution = out.pop("attribution", True)
    options = {"ocr": out.pop("ocr", True), "faces": out.pop("faces", True), "taxonomy": out.pop("taxonomy", None)}
    if not attribution:
        return out
    hooks = trace_hooks(index, **options)
    if text:
        hooks.pop("query_analyzer", None)  # text queries have no pixels
    for name, hook in hooks.items():
        out.setdefault(name, hook)
    return out
