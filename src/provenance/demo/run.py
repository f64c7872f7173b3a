"""The whole demo: corpus -> index ``demo`` (tiny encoder) -> report over the example generations."""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..attribute.hooks import build_hooks
from ..errors import UsageError
from ..index.layout import LOCK
from ..paths import index_dir_for
from .corpus import MARKER, build_corpus
from .examples import make_examples, shipped_examples

ENCODER = "tiny"
GROUP_BY = ("model", "cohort")
REAL_CLIP = ("provenance index my-corpus --from PATH_OR_SHARDS --encoder open_clip:ViT-B-32/laion2b_s34b_b79k   "
             "(offline: --encoder 'open_clip:ViT-B-32@/path/to/open_clip_model.safetensors')")
REAL_REPORT = "provenance report {manifest} --index my-corpus --group-by model,cohort -o reports/mine"


@dataclass
class DemoSummary:
    out_dir: str
    corpus: dict[str, Any]
    index: dict[str, Any]
    examples: str
    report_dir: str
    report_html: str
    near_copy_checks: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    classes: list[str]
    n_near_duplicate: int
    n_generations: int
    labels: str
    label_agreement: dict[str, Any] | None
    notes: list[str]
    next_steps: list[str]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def near_copies_found(self) -> bool:
        return bool(self.near_copy_checks) and all(c["rank1"] for c in self.near_copy_checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "near_copies_found": self.near_copies_found}


def _demo_index_state(directory: Path, corpus_root: Path, labelling: dict) -> str:
    """"current", "stale" (a demo index of another corpus or labelling), "partial" (an interrupted build) or "none"."""
    path = directory / "manifest.json"
    if not path.is_file():
        return "partial" if directory.is_dir() and any(p.name != LOCK for p in directory.iterdir()) else "none"
    m = json.loads(path.read_text())
    sources = [s.get("source") for s in m.get("sources", [])]
    if not sources or not all(s and (Path(s) / MARKER).is_file() for s in sources):
        raise UsageError(f"{directory} holds an index that `provenance demo` did not make; move it away or set "
                         "PROVENANCE_INDEXES to another folder")
    att = m.get("attribution") or {}
    # a new taxonomy or learned model (an upgrade) relabels the demo corpus
    same_labels = all(att.get(k) == labelling.get(k) for k in ("taxonomy", "learned_model"))
    current = sources == [str(corpus_root.resolve())] and same_labels and m["encoder"]["spec"] == ENCODER
    return "current" if current else "stale"


def run_demo(out_dir: str | os.PathLike = "demo-output", *, index_name: str = "demo", k: int = 20, progress: bool = False,
             force: bool = False, ocr: bool = True, log=None) -> DemoSummary:
    """Build (or reuse) the demo corpus and index, then report on the example generations."""
    from ..index import build_index, open_index
    from ..report import run_report

    say = log or (lambda msg: None)
    t0 = time.time()
    timings: dict[str, float] = {}
    out = Path(out_dir)
    say(f"1/3 demo corpus in {out / 'corpus'}")
    corpus = build_corpus(out / "corpus", force=force)
    timings["corpus"] = round(time.time() - t0, 2)

    t1 = time.time()
    hooks = build_hooks(faces=True, ocr=False)
    labelling = json.loads(json.dumps(hooks["labeler"].describe()))  # as the manifest stores it
    directory = index_dir_for(index_name)
    state = _demo_index_state(directory, corpus.root, labelling)
    rebuilt = force or corpus.built or state != "current"
    say(f"2/3 index {directory} (encoder {ENCODER}, " + ("building" if rebuilt else "up to date, reused") + ")")
    if rebuilt:
        # An interrupted demo build resumes; a finished one of other files (or other labels) is replaced.
        build_index(directory, [str(corpus.root)], encoder=ENCODER, overwrite=state in ("stale", "current"),
                    progress=progress, **hooks)
    ix = open_index(directory)
    timings["index"] = round(time.time() - t1, 2)

    t2 = time.time()
    examples = shipped_examples()
    if examples is None:  # an installed wheel has no examples/ folder: make the same files
        examples = out / "generations"
        make_examples(examples)
    report_dir = out / "report"
    say(f"3/3 report on {examples / 'manifest.csv'} -> {report_dir}")
    rep = run_report(ix, examples / "manifest.csv", report_dir, k=k, group_by=list(GROUP_BY), force=force, ocr=ocr,
                     progress=progress, command="provenance demo")
    timings["report"] = round(time.time() - t2, 2)

    checks = near_copy_checks(examples / "manifest.csv", report_dir / "generations.parquet", corpus.root)
    combined = [g for g in rep.groups if g["grouping"] == "+".join(GROUP_BY)]
    return DemoSummary(
        out_dir=str(out), corpus=corpus.to_dict(), examples=str(examples), report_dir=str(report_dir),
        report_html=str(report_dir / "report.html"),
        index={"name": ix.name, "path": str(ix.path), "count": ix.count, "encoder": ix.manifest["encoder"]["spec"],
               "faiss": ix.manifest["faiss"]["factory"], "rebuilt": rebuilt, "attribution": ix.manifest.get("attribution")},
        near_copy_checks=checks, groups=combined, classes=rep.classes, n_near_duplicate=rep.n_near_duplicate,
        n_generations=rep.n_generations, labels="attribution", label_agreement=label_agreement(ix),
        notes=rep.notes, next_steps=[REAL_CLIP, REAL_REPORT.format(manifest=_shown(examples / "manifest.csv"))],
        seconds=round(time.time() - t0, 2), timings=timings)


def _shown(path: Path) -> str:
    """A path as short as it can be said from here."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def label_agreement(ix) -> dict[str, Any] | None:
    """How often the source classifier's label equals the kind of publisher the corpus generator chose."""
    table = ix.metadata()
    if "label" not in table.column_names or "demo_source" not in table.column_names:
        return None
    pairs = list(zip(table.column("label").to_pylist(), table.column("demo_source").to_pylist()))
    agree = sum(1 for a, b in pairs if a == b)
    return {"items": len(pairs), "agree": agree, "share": round(agree / len(pairs), 4) if pairs else None}


def near_copy_checks(manifest: Path, generations: Path, corpus_root: Path) -> list[dict[str, Any]]:
    """For each example that copies a corpus item: is that item the generation's rank-1 neighbour?"""
    import pyarrow.parquet as pq

    with open(manifest, newline="", encoding="utf-8") as f:
        expected = {r["path"]: r["copied_from"] for r in csv.DictReader(f) if r.get("copied_from")}
    rows = {r["generation"]: r for r in pq.read_table(generations).to_pylist()}
    out = []
    for path, source in expected.items():
        r = rows.get(path)
        top = (r or {}).get("top_neighbour_key")
        want = str((corpus_root / source).resolve())
        out.append({"generation": path, "copied_from": source, "rank1": bool(top) and str(Path(top).resolve()) == want,
                    "rank1_key": top, "similarity": (r or {}).get("top_similarity"), "near_duplicate": (r or {}).get("near_duplicate")})
    return out
