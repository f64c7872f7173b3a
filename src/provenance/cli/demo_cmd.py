"""``provenance demo``: the whole tool, offline, in well under a minute."""

from __future__ import annotations

import click

from .common import console, emit_json, json_option, progress_enabled, progress_option


@click.command("demo")
@click.option("--out", "out_dir", default="demo-output", show_default=True, metavar="DIR",
              help="Where the demo corpus and the report are written.")
@click.option("--index", "index_name", default="demo", show_default=True, metavar="NAME",
              help="Index name (under ./indexes, or $PROVENANCE_INDEXES).")
@click.option("-k", "k", type=click.IntRange(1, 200), default=20, show_default=True, help="Neighbours per generation.")
@click.option("--force", is_flag=True, help="Rebuild the corpus and index and trace everything again.")
@click.option("--ocr/--no-ocr", default=True, show_default=True, help="Look for stock watermarks in the example generations.")
@progress_option
@json_option
def demo_cmd(out_dir, index_name, k, force, ocr, progress, as_json):
    """Build a small offline corpus, index it, and report on example generations.

    No network and no model weights: the corpus is made from scikit-image's bundled
    photos with captions and URLs of real kinds of publishers; the index uses the
    untrained `tiny` encoder; the example generations are synthetic stand-ins
    (examples/generations). Re-running reuses what is already built.

    \b
    Examples:
      provenance demo
      provenance demo --out /tmp/demo --json
    """
    from ..demo import run_demo

    err = console(stderr=True)
    s = run_demo(out_dir, index_name=index_name, k=k, progress=progress_enabled(progress), force=force, ocr=ocr,
                 log=None if as_json else (lambda m: err.print(f"[dim]{m}[/dim]")))
    if as_json:
        emit_json(s.to_dict())
    else:
        _print(s)
    if not s.near_copies_found:
        raise SystemExit(1)


def _print(s) -> None:
    from rich.table import Table

    out = console()
    c = s.corpus
    out.print(f"[bold]corpus[/bold] {c['count']} items in {c['root']}: "
              + ", ".join(f"{n} {k}" for k, n in sorted(c["sources"].items(), key=lambda kv: -kv[1])), markup=True)
    labels = ("labels from provenance.attribute" if s.labels == "attribution" else
              "labels: the corpus's known sources (provenance.attribute not installed)")
    out.print(f"[bold]index[/bold] {s.index['path']}: {s.index['count']} items, encoder {s.index['encoder']}, "
              f"{s.index['faiss']}; {labels}", markup=True)
    if s.label_agreement:
        a = s.label_agreement
        out.print(f"  the source classifier agrees with the kinds of publisher the corpus generator chose on {a['agree']} of "
                  f"{a['items']} items ({a['share']:.0%}; the demo URLs and captions are made up, so this checks plumbing, not accuracy)")
    ok = sum(1 for x in s.near_copy_checks if x["rank1"])
    out.print(f"[bold]near-copies[/bold]: {ok} of {len(s.near_copy_checks)} edited copies of corpus items came back at rank 1")
    for x in s.near_copy_checks[:3]:
        out.print(f"  {x['generation']} -> rank 1 {x['copied_from'] if x['rank1'] else x['rank1_key']} "
                  f"(cosine {x['similarity']:.4f}){'' if x['rank1'] else '  [MISSED]'}", markup=False)
    t = Table(title="nearest-neighbour source composition (mean share of the 20 nearest training items)", title_justify="left")
    for col in ("model", "cohort", "n", *s.classes, "near-dup"):
        t.add_column(col, justify="left" if col in ("model", "cohort") else "right")
    for g in s.groups:
        t.add_row(g["model"], g["cohort"], str(g["n"]), *[f"{g[f'share_{c}']:.0%}" for c in s.classes], str(g["n_near_duplicate"]))
    out.print(t)
    out.print(f"[bold]report[/bold]: {s.report_html}  (open it in a browser; it contacts no host)")
    out.print(f"         tables, plots and run.json in {s.report_dir}")
    out.print(f"done in {s.seconds:.1f}s")
    for note in s.notes:
        out.print(f"[dim]note: {note}[/dim]")
    out.print("[bold]real results[/bold]: index your corpus with trained CLIP weights, then report:")
    for step in s.next_steps:
        out.print(f"  {step}", markup=False)
