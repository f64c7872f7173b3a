"""``provenance trace``."""

from __future__ import annotations

import click

from .common import console, device_option, emit_json, engine_option, json_option, precision_option, untrained_note

NOTE_RESEMBLANCE = ("Neighbours show resemblance, not proven influence: shares are the nearest-neighbour source "
                    "composition of each query within this index.")
NOTE_REFERENCE = ("Unless this index is the generator's own training set, it is a reference corpus of the same web; "
                  "the training data of closed models (Midjourney, YandexART, ERNIE-ViLG, ...) is not public.")


@click.command("trace")
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--text", "texts", multiple=True, help="Trace a text prompt instead of (or as well as) images. Repeatable.")
@click.option("--index", "index_ref", default=None, metavar="NAME",
              help="Index name or path (default: $PROVENANCE_INDEX, or the only index under ./indexes).")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=20, show_default=True, help="Neighbours per query.")
@click.option("--encoder", default=None, metavar="SPEC",
              help="Load the index's model from elsewhere (e.g. local weights); refused unless it is the same model.")
@click.option("--threshold", type=float, default=None, help="Near-duplicate cosine threshold (default: per encoder).")
@click.option("--show", type=click.IntRange(1, 1000), default=10, show_default=True, help="Rows per query in the table.")
@click.option("--ocr/--no-ocr", default=True, show_default=True, help="Look for stock-agency watermark text in the query images.")
@click.option("--faces/--no-faces", default=True, show_default=True, help="Face / selfie cues from the query images.")
@precision_option
@device_option
@engine_option("the query images")
@json_option
def trace_cmd(images, texts, index_ref, k, encoder, threshold, show, ocr, faces, precision, device, engine, as_json):
    """Find the training images nearest to generated IMAGES (or to --text prompts).

    \b
    Examples:
      provenance trace generated.png --index people
      provenance trace out/*.png --index people -k 50 --json > trace.json
      provenance trace --text "a selfie of a Gen Z woman" --index people
    """
    from ..errors import UsageError
    from ..index import open_index
    from ..trace import trace_images, trace_texts
    from ..trace.tracer import query_precision

    if not images and not texts:
        raise UsageError("nothing to trace: give image paths or --text PROMPT")
    ix = open_index(index_ref)
    from concurrent.futures import ThreadPoolExecutor

    # Loading the model (torch import, weights) is most of a short trace: overlap it with the
    # attribution set-up and the reading of the queries. Index.encoder makes the later calls
    # wait for this load instead of starting another.
    with ThreadPoolExecutor(max_workers=1) as pool:
        if images:
            model = pool.submit(ix.image_encoder, encoder, device=device, precision=query_precision(precision, len(images)),
                                engine=engine)
        else:
            model = pool.submit(ix.encoder, encoder, device=device, precision=query_precision(precision, len(texts)))
        from ..attribute.hooks import trace_hooks

        hooks = trace_hooks(ix, ocr=ocr, faces=faces)
        results = []
        if images:
            results += trace_images(ix, list(images), k=k, encoder=encoder, device=device, precision=precision,
                                    threshold=threshold, on_error="record", engine=engine, **hooks)
        if texts:
            results += trace_texts(ix, list(texts), k=k, encoder=encoder, device=device, precision=precision,
                                   threshold=threshold, composer=hooks.get("composer"))
        model.result()
    failed = [r for r in results if r.error]
    notes = [NOTE_RESEMBLANCE, NOTE_REFERENCE]
    note = untrained_note(ix.manifest["encoder"])
    if note:
        notes.insert(0, note)
    if as_json:
        emit_json(trace_document(ix, results, k, notes))
    else:
        _print_results(ix, results, show, notes)
    if failed:
        raise SystemExit(1)


def trace_document(ix, results, k: int, notes: list[str]) -> dict:
    """The ``--json`` document (schema: provenance/data/trace.schema.json)."""
    from .. import __version__

    m = ix.manifest
    return {
        "schema": "provenance.trace/1",
        "provenance_version": __version__,
        "index": {"name": ix.name, "path": str(ix.path), "count": m["count"], "faiss": m["faiss"]["factory"],
                  "attribution": m.get("attribution")},
        "encoder": m["encoder"],
        "k": k,
        "notes": notes,
        "results": [r.to_dict() for r in results],
    }


def _print_results(ix, results, show: int, notes: list[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    for r in results:
        if r.error:
            console(stderr=True).print(f"Error: {r.error}", markup=False)
            continue
        title = f"{r.kind} {r.query}"
        rows = []
        for n in r.neighbours[:show]:
            label = (n.label or "-") + (" selfie" if n.selfie else "")
            sim = f"{n.similarity:.4f}" + (" ≈dup" if n.near_duplicate else "")
            rows.append((str(n.rank), sim, label, _clip(n.caption or "", 60), n.host or _tail(n.key or "", 28), str(n.id)))
        t = Table(title=title, title_justify="left", show_lines=False, expand=False)
        # Widths fixed from the (already clipped) cells: rich then skips measuring every cell,
        # which was most of the printing time of a 100-image trace.
        for j, (col, justify) in enumerate((("rank", "right"), ("cosine", "right"), ("source", "left"),
                                             ("caption", "left"), ("host", "left"), ("id", "right"))):
            width = max([len(col)] + [len(row[j]) for row in rows])
            t.add_column(col, justify=justify, width=width, no_wrap=True, overflow="ellipsis")
        for row in rows:
            t.add_row(*(Text(cell) for cell in row))
        out.print(t)
        if r.composition:
            _print_composition(out, r.composition)
        if r.near_duplicate:
            out.print(f"  [bold red]near-duplicate[/bold red]: a training item is within cosine {r.near_duplicate_threshold} of this query (possible memorisation)")
        if r.query_signals and r.query_signals.get("watermark"):
            out.print(f"  [bold]stock watermark visible in the query image[/bold]: {r.query_signals['watermark']}")
    for note in notes:
        out.print(f"[dim]note: {note}[/dim]")


def _print_composition(out, comp: dict) -> None:
    shares = comp.get("shares") or {}
    parts = []
    for label, s in sorted(shares.items(), key=lambda kv: -kv[1]["share"]):
        if s["share"] <= 0:
            continue
        parts.append(f"{label} {s['share']:.0%} [{s['low']:.0%}–{s['high']:.0%}]")
    if parts:
        out.print("  nearest-neighbour source composition: " + ", ".join(parts), markup=False)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())  # captions carry newlines and tabs from the web
    return text if len(text) <= width else text[: width - 1] + "…"


def _tail(text: str, width: int) -> str:
    """The end of a long key (a local path, a shard member): that is the part that tells items apart."""
    return text if len(text) <= width else "…" + text[-(width - 1):]
