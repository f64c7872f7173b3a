"""Embed queries with the index's own encoder, search, and attach neighbour metadata."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from ..encoders.model import PRECISION_CHECK_ITEMS
from ..errors import ProvenanceError
from ..ingest.decode import SkipItem, decode_image
from .near_duplicate import default_threshold
from .results import Neighbour, TraceResult, url_host

NEIGHBOUR_FIELDS = {"id", "key", "url", "caption", "label", "selfie"}
FEW_QUERIES = PRECISION_CHECK_ITEMS


def query_precision(precision: str, n_queries: int) -> str:
    """The precision to embed ``n_queries`` queries at: ``auto`` means float32 for a handful.

    A reduced precision is checked against a float32 forward of the first items of the first
    batch, so for up to that many queries float32 is both exact and cheaper (no cast of the model,
    one forward instead of two: ~0.3 s of a one-image trace on CPU)."""
    return "fp32" if precision == "auto" and n_queries <= FEW_QUERIES else precision


def _load_query(q: Any) -> tuple[str, Any]:
    if isinstance(q, (str, os.PathLike)):
        try:
            return os.fspath(q), decode_image(path=os.fspath(q))
        except SkipItem as s:
            raise ProvenanceError(f"cannot read image {os.fspath(q)}: {s.reason}" + (f" ({s.detail})" if s.detail else "")) from None
    if hasattr(q, "convert"):
        return "", q.convert("RGB")
    raise ProvenanceError(f"cannot trace {type(q).__name__}: give an image path or a PIL image")


def _try_load(q: Any):
    try:
        return _load_query(q)
    except ProvenanceError as exc:
        return exc


def trace_images(
    index,
    images: Sequence[Any],
    *,
    k: int = 20,
    encoder: str | None = None,
    device: str | None = None,
    precision: str = "auto",
    threshold: float | None = None,
    on_error: str = "raise",
    batch_size: int = 32,
    query_analyzer: Callable | None = None,
    composer: Callable | None = None,
    few_in_fp32: bool = True,
    engine: str | None = None,
) -> list[TraceResult]:
    """Trace each image (path or PIL image) to its ``k`` nearest training items.

    ``on_error="record"`` returns a result with ``error`` set for an unreadable
    image instead of raising, so batches keep going. With ``precision="auto"`` a handful of
    images is embedded in float32 (:func:`query_precision`); callers that trace a stream in
    chunks decide once for the stream and pass ``few_in_fp32=False``, so that a short last
    chunk does not load a second copy of the model. ``engine`` (``auto``, ``onnx``, ``torch``)
    picks what embeds the images: see :meth:`provenance.index.Index.image_encoder`.
    """
    thr = default_threshold(index.encoder_identity) if threshold is None else float(threshold)
    if few_in_fp32:
        precision = query_precision(precision, len(images))
    if hasattr(index, "prefetch"):
        index.prefetch()  # FAISS index and metadata load while images decode and the model loads
    results: list[TraceResult | None] = [None] * len(images)
    loaded: list[tuple[int, str, Any]] = []
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2), thread_name_prefix="decode") as pool:
        decoded = list(pool.map(_try_load, images))
    for i, (q, got) in enumerate(zip(images, decoded)):
        try:
            if isinstance(got, ProvenanceError):
                raise got
            name, im = got
            loaded.append((i, name or f"<image {i}>", im))
        except ProvenanceError as exc:
            if on_error != "record":
                raise
            results[i] = TraceResult(query=os.fspath(q) if isinstance(q, (str, os.PathLike)) else f"<image {i}>", kind="image",
                                     neighbours=[], near_duplicate=False, top_similarity=None,
                                     near_duplicate_threshold=thr, error=str(exc))
    # Signals read off the query images (OCR, faces) run beside the model: both release the GIL.
    with ThreadPoolExecutor(max_workers=max(1, min(2, len(loaded))), thread_name_prefix="query-signals") as pool:
        signals = {i: pool.submit(query_analyzer, im) for i, _, im in loaded} if query_analyzer is not None else {}
        enc = index.image_encoder(encoder, device=device, precision=precision, engine=engine)
        # One call for all queries: the encoder preprocesses the next batch while it embeds this one.
        all_vecs = enc.embed_images([im for _, _, im in loaded], batch_size=batch_size) if loaded else None
        for s in range(0, len(loaded), batch_size):
            chunk = loaded[s : s + batch_size]
            vecs = all_vecs[s : s + batch_size]
            scores, ids = index.search(vecs, k)
            rows = _rows_by_id(index, ids)
            for (i, name, _), sc, idx in zip(chunk, scores, ids):
                res = _result(index, name, "image", sc, idx, thr, rows)
                if composer is not None:
                    res.composition = composer(res)
                results[i] = res
        for i, fut in signals.items():
            results[i].query_signals = fut.result()
    return [r for r in results if r is not None]


def trace_texts(index, texts: Sequence[str], *, k: int = 20, encoder: str | None = None, device: str | None = None,
                precision: str = "auto", threshold: float | None = None, composer: Callable | None = None) -> list[TraceResult]:
    """Trace text prompts: the training images nearest to the prompt's text embedding."""
    enc = index.encoder(encoder, device=device, precision=query_precision(precision, len(texts)))
    thr = default_threshold(index.encoder_identity) if threshold is None else float(threshold)
    vecs = enc.embed_texts(list(texts))
    scores, ids = index.search(vecs, k)
    rows = _rows_by_id(index, ids)
    out = []
    for t, sc, idx in zip(texts, scores, ids):
        # Text-image cosines live on another scale than image-image ones: no near-duplicate flags.
        res = _result(index, t, "text", sc, idx, math.inf, rows)
        res.near_duplicate_threshold = thr
        if composer is not None:
            res.composition = composer(res)
        out.append(res)
    return out


def _rows_by_id(index, ids: np.ndarray) -> dict[int, dict[str, Any]]:
    """Metadata of every neighbour of a batch of queries in one lookup (shared row groups read once)."""
    unique = sorted({int(i) for i in np.asarray(ids).ravel() if i >= 0})
    return dict(zip(unique, index.rows(unique)))


def _result(index, query: str, kind: str, scores: np.ndarray, ids: np.ndarray, thr: float,
            rows_by_id: dict[int, dict[str, Any]]) -> TraceResult:
    valid = [(float(s), int(i)) for s, i in zip(scores, ids) if i >= 0]
    rows = [rows_by_id[i] for _, i in valid]
    neighbours = []
    for rank, ((sim, id_), row) in enumerate(zip(valid, rows), start=1):
        probs = {k[2:]: float(v) for k, v in row.items() if k.startswith("p_") and v is not None}
        neighbours.append(
            Neighbour(
                rank=rank,
                id=id_,
                similarity=round(sim, 6),
                key=row.get("key"),
                url=row.get("url"),
                host=url_host(row.get("url")),
                caption=row.get("caption"),
                near_duplicate=sim >= thr,
                label=row.get("label"),
                probabilities=probs or None,
                selfie=row.get("selfie"),
                meta={k: v for k, v in row.items() if k not in NEIGHBOUR_FIELDS and not k.startswith("p_")},
            )
        )
    top = neighbours[0].similarity if neighbours else None
    return TraceResult(query=query, kind=kind, neighbours=neighbours, near_duplicate=any(n.near_duplicate for n in neighbours),
                       top_similarity=top, near_duplicate_threshold=thr)
