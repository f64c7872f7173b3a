"""``run_report``: trace every generation of a study and write the report directory."""

from __future__ import annotations

import os
import platform
import shlex
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import __version__
from ..errors import ProvenanceError, UsageError
from ..util.atomic import atomic_write_json
from . import composition as comp_mod
from . import html as html_mod
from . import plots as plots_mod
from . import stats, tables
from .inputs import InputSet, read_inputs
from .journal import TraceJournal, file_sha256
from .tables import ALL, Traced
from .thumbs import png_data_uri

NOTE_RESEMBLANCE = ("Nearest neighbours show resemblance, not proven influence: the shares are the nearest-neighbour source "
                    "composition of each generation within this index, not a measured causal contribution.")
NOTE_REFERENCE = ("Unless this index is the generator's own training set, it is a reference corpus of the same web; the "
                  "training data of closed models (Midjourney, YandexART, ERNIE-ViLG, ...) is not public.")
NOTE_UNTRAINED = ("The encoder {spec} is untrained (random weights): similarities show near-duplication, not meaning, and "
                  "the source mix of non-duplicate neighbours reflects pixel statistics. For real results build the index with "
                  "trained CLIP weights, e.g. --encoder open_clip:ViT-B-32/laion2b_s34b_b79k.")
NOTE_NO_LABELS = ("This index carries no source labels (built without attribution): every neighbour is 'unlabelled'. "
                  "Rebuild it with attribution to get a source mix.")
FILES = ("report.html", "generations.parquet", "generations.csv", "neighbours.parquet", "groups.csv", "group_tests.csv",
         "plots/source_mix.png", "plots/similarity.png", "plots/near_duplicates.png", "run.json")


@dataclass
class ReportSummary:
    out_dir: str
    files: list[str]
    n_inputs: int
    n_generations: int
    n_traced_now: int
    n_resumed: int
    skipped: list[dict[str, Any]]
    skip_reasons: dict[str, int]
    group_by: list[str]
    classes: list[str]
    groups: list[dict[str, Any]]
    tests: list[dict[str, Any]]
    n_near_duplicate: int
    threshold: float
    composition_method: str
    notes: list[str]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Bar:
    def __init__(self, enabled: bool, total: int, initial: int):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="tracing generations", unit="img", dynamic_ncols=True, leave=False)

    def update(self, n: int) -> None:
        if self.bar:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def attribution_hooks(index, *, ocr: bool, faces: bool) -> dict[str, Any]:
    """Query analyser and composer from :mod:`provenance.attribute`, when it is installed."""
    try:
        from ..attribute.hooks import trace_hooks
    except ModuleNotFoundError as exc:
        if exc.name not in ("provenance.attribute", "provenance.attribute.hooks"):
            raise
        return {}
    return trace_hooks(index, ocr=ocr, faces=faces)


def threshold_doc(identity, given: float | None) -> tuple[float, str, str]:
    """(threshold, one-line source, how it was chosen) for run.json and the report."""
    from ..trace import near_duplicate

    if given is not None:
        return float(given), "set with --threshold", "given by the user with --threshold"
    value = near_duplicate.default_threshold(identity)
    kind = ("untrained tiny encoder" if identity.model_id == "tiny" else
            "trained CLIP encoder" if identity.trained else "untrained (random-weight) encoder")
    return value, f"default for the {kind}", " ".join((near_duplicate.__doc__ or "").split())


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"provenance": __version__, "python": platform.python_version()}
    for pkg in ("torch", "open_clip_torch", "faiss-cpu", "numpy", "pyarrow", "scipy", "jinja2", "matplotlib", "pillow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def run_report(
    index,
    inputs: str | os.PathLike | InputSet,
    out_dir: str | os.PathLike,
    *,
    k: int = 20,
    group_by: Sequence[str] = (),
    force: bool = False,
    remote_thumbnails: bool = False,
    threshold: float | None = None,
    ocr: bool = True,
    faces: bool = True,
    batch_size: int = 16,
    show_neighbours: int = 8,
    max_cards: int = 500,
    encoder: str | None = None,
    device: str | None = None,
    precision: str = "auto",
    engine: str | None = None,
    progress: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
    seed: int = 0,
    n_permutations: int = stats.N_PERMUTATIONS,
) -> ReportSummary:
    """Trace every generation of ``inputs`` against ``index`` and write the report into ``out_dir``.

    Resumable: traced generations are journaled in ``out_dir/.work``; a re-run
    traces only what is new or changed (``force=True`` traces everything again).
    ``on_progress(done, total)`` is called after each committed batch.
    """
    from ..index import Index, open_index
    from ..trace import trace_images
    from ..trace.tracer import query_precision

    t0 = time.time()
    timings: dict[str, float] = {}
    ix = index if isinstance(index, Index) else open_index(index)
    if k < 1:
        raise UsageError("k must be at least 1")
    data = inputs if isinstance(inputs, InputSet) else read_inputs(inputs, group_by)
    group_by = list(data.group_by)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    identity = ix.encoder_identity
    thr, thr_source, thr_how = threshold_doc(identity, threshold)
    hooks = attribution_hooks(ix, ocr=ocr, faces=faces)
    manifest = ix.manifest
    config = {"index": str(ix.path.resolve()), "build_id": manifest.get("build_id"), "generation": manifest.get("generation"),
              "encoder": identity.fingerprint or identity.model_id, "k": k, "threshold": thr, "ocr": bool(ocr and hooks),
              "faces": bool(faces and hooks), "attribution": bool(hooks)}
    journal = TraceJournal(out, config, force=force)
    timings["setup"] = round(time.time() - t0, 3)

    # -- trace what is not traced yet -------------------------------------------------------
    t1 = time.time()
    done = journal.load()
    skipped = list(data.skipped)
    todo, records = [], {}
    for g in data.generations:
        try:
            sha = file_sha256(g.file)
        except OSError as exc:
            skipped.append({"ref": f"row {g.row}", "path": g.path, "reason": "unreadable file", "detail": str(exc)[:200]})
            continue
        rec = done.get((str(g.file), sha))
        if rec is not None:
            records[g.row] = rec
        else:
            todo.append((g, sha))
    n_resumed = len(records)
    total = len(records) + len(todo)
    bar = _Bar(progress, total, n_resumed)
    try:
        for s in range(0, len(todo), batch_size):
            chunk = todo[s : s + batch_size]
            results = trace_images(ix, [str(g.file) for g, _ in chunk], k=k, encoder=encoder, device=device,
                                   precision=query_precision(precision, len(todo)), few_in_fp32=False, engine=engine,
                                   threshold=thr, on_error="record", batch_size=batch_size, **hooks)
            batch = []
            for (g, sha), res in zip(chunk, results):
                rec = {"file": str(g.file), "sha256": sha, "traced_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "result": res.to_dict()}
                batch.append(rec)
                records[g.row] = rec
            journal.append(batch)
            bar.update(len(chunk))
            if on_progress is not None:
                on_progress(len(records), total)
    finally:
        bar.close()
    timings["trace"] = round(time.time() - t1, 3)
    query_encoder = None
    if todo:  # the encoder the batches used (already loaded: this only looks it up)
        enc = ix.image_encoder(encoder, device=device, precision=query_precision(precision, len(todo)), engine=engine)
        query_encoder = {"engine": enc.engine, "precision": enc.precision, "device": enc.device}

    # -- tables -------------------------------------------------------------------------------
    t2 = time.time()
    traced: list[Traced] = []
    for g in data.generations:
        rec = records.get(g.row)
        if rec is None:
            continue
        err = (rec.get("result") or {}).get("error")
        if err:
            skipped.append({"ref": f"row {g.row}", "path": g.path, "reason": "unreadable image", "detail": err[:300]})
            continue
        shares, method = comp_mod.from_record(rec)
        traced.append(Traced(g, rec, shares, method))
    if not traced:
        reasons = Counter(s["reason"] for s in skipped)
        raise ProvenanceError(f"nothing to report: all {len(skipped)} input(s) of {data.source} were skipped ("
                              + ", ".join(f"{n} {r}" for r, n in reasons.most_common()) + ")")
    classes = comp_mod.classes_for(t.shares for t in traced)
    for t in traced:
        t.shares = comp_mod.complete(t.shares, classes, len(t.neighbours))
    methods = sorted({t.method for t in traced})
    rng = np.random.default_rng(seed)
    gen_rows = tables.generation_rows(traced, group_by, classes)
    nb_rows = tables.neighbour_rows(traced, group_by, classes)
    grp_rows = tables.group_rows(traced, group_by, classes, rng)
    test_rows = tables.test_rows(traced, group_by, classes, rng, n_permutations)
    tables.write_parquet(gen_rows, out / "generations.parquet")
    tables.write_csv(gen_rows, out / "generations.csv")
    tables.write_parquet(nb_rows, out / "neighbours.parquet", tables.neighbour_columns(group_by, classes))
    tables.write_csv(grp_rows, out / "groups.csv")
    tables.write_csv(test_rows, out / "group_tests.csv", list(tables.TEST_COLUMNS))
    timings["tables"] = round(time.time() - t2, 3)

    # -- figures and HTML -------------------------------------------------------------------------
    t3 = time.time()
    combined = [r for r in grp_rows if r["grouping"] == ("+".join(group_by) or ALL)]
    label_of = lambda r: " · ".join(str(r[g]) for g in group_by) or ALL  # noqa: E731
    by_group = {label_of(r): r for r in combined}
    plots_mod.source_mix([{"label": name, "shares": {c: r[f"share_{c}"] for c in classes}} for name, r in by_group.items()],
                         classes, out / "plots" / "source_mix.png", "Nearest-neighbour source composition per group")
    sims: dict[str, list[float]] = {name: [] for name in by_group}
    for t in traced:
        name = " · ".join(t.gen.groups[g] for g in group_by) or ALL
        if t.result.get("top_similarity") is not None:
            sims[name].append(float(t.result["top_similarity"]))
    plots_mod.similarities(sims, thr, out / "plots" / "similarity.png")
    plots_mod.near_duplicates({name: (r["n_near_duplicate"], r["n"]) for name, r in by_group.items()}, out / "plots" / "near_duplicates.png")

    notes = [NOTE_RESEMBLANCE, NOTE_REFERENCE]
    if not identity.trained:
        notes.insert(0, NOTE_UNTRAINED.format(spec=identity.spec))
    if not any(n.get("label") for t in traced for n in t.neighbours):
        notes.append(NOTE_NO_LABELS)
    reasons = Counter(s["reason"] for s in skipped)
    n_dup = sum(1 for t in traced if t.result.get("near_duplicate"))
    cmd = command or "provenance.report.run_report(...)"
    summary = {
        "n_generations": len(traced), "n_traced_now": len(todo), "n_resumed": n_resumed, "n_skipped": len(skipped),
        "skip_reasons": dict(reasons), "n_near_duplicate": n_dup, "threshold": thr, "threshold_source": thr_source,
        "group_by": ", ".join(group_by), "method": "; ".join(methods), "index_name": ix.name, "index_count": ix.count,
        "encoder": identity.spec + ("" if identity.trained else " (untrained)"), "k": k,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"), "version": __version__,
    }
    plot_list = [{"title": "Source mix per group", "file": "source_mix.png"},
                 {"title": "Similarity of the nearest training item, per group", "file": "similarity.png"},
                 {"title": "Generations with a near-duplicate neighbour, per group", "file": "near_duplicates.png"}]
    for p in plot_list:
        p["uri"] = png_data_uri(out / "plots" / p["file"])
    html_mod.render(
        out / "report.html", title="Provenance report: " + Path(data.source).name, summary=summary, notes=notes, classes=classes,
        grouped=html_mod.grouped_for_html(grp_rows, group_by, classes), tests=test_rows, plots=plot_list, skipped=skipped,
        cards=[html_mod.card(t, classes, show_neighbours, remote_thumbnails) for t in traced[:max_cards]],
        cards_omitted=len(traced) > max_cards, command=cmd, remote_thumbnails=remote_thumbnails, n_permutations=n_permutations)
    timings["figures_html"] = round(time.time() - t3, 3)
    timings["total"] = round(time.time() - t0, 3)

    run = {
        "schema": "provenance.report/1",
        "command": cmd,
        "created": summary["created"],
        "versions": _versions(),
        "input": {"source": data.source, "kind": data.kind, "columns": data.columns, "rows": len(data.generations) + len(data.skipped)},
        "index": {"name": ix.name, "path": str(ix.path.resolve()),
                  "manifest": {k_: v for k_, v in manifest.items() if k_ != "parts"} | {"parts": len(manifest.get("parts", []))}},
        "encoder": identity.to_dict(),
        "query_encoder": query_encoder,
        "k": k,
        "group_by": group_by,
        "near_duplicate": {"threshold": thr, "source": thr_source, "how_chosen": thr_how},
        "composition": {"method": methods, "classes": classes, "attribution": manifest.get("attribution"),
                        "hooks": sorted(hooks)},
        "statistics": {"group_interval": f"percentile bootstrap over generations, {stats.N_BOOTSTRAP} resamples, 95%",
                       "tests": "chi2_neighbour_labels (scipy chi2_contingency on pooled neighbour counts); permutation_shares "
                                f"({n_permutations} permutations of generations between groups, between-group sum of squares of shares)",
                       "seed": seed},
        "counts": {"generations": len(traced), "traced_now": len(todo), "resumed": n_resumed,
                   "discarded_earlier": journal.discarded, "discarded_because": journal.reason_discarded,
                   "skipped": len(skipped), "near_duplicate": n_dup},
        "skip_reasons": dict(reasons),
        "skipped": skipped,
        "notes": notes,
        "timings_seconds": timings,
        "files": list(FILES),
    }
    atomic_write_json(out / "run.json", run)
    return ReportSummary(
        out_dir=str(out), files=list(FILES), n_inputs=len(data.generations) + len(data.skipped), n_generations=len(traced),
        n_traced_now=len(todo), n_resumed=n_resumed, skipped=skipped, skip_reasons=dict(reasons), group_by=group_by,
        classes=classes, groups=grp_rows, tests=test_rows, n_near_duplicate=n_dup, threshold=thr,
        composition_method="; ".join(methods), notes=notes, seconds=timings["total"], timings=timings)


def command_line(name: str, arguments: Sequence[str], options: dict[str, Any]) -> str:
    """The shell command that repeats a run: ``provenance NAME ARGS --option value ...`` (flags only when set)."""
    parts = ["provenance", name, *arguments]
    for opt, value in options.items():
        if value is None or value is False or value == "":
            continue
        parts += [opt] if value is True else [opt, str(value)]
    return " ".join(shlex.quote(p) for p in parts)
