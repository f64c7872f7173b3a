"""``provenance report``: a whole study at once."""

from __future__ import annotations

import click

from .common import (console, device_option, emit_json, engine_option, json_option, precision_option, progress_enabled,
                     progress_option)


@click.command("report")
@click.argument("inputs", metavar="INPUT")
@click.option("--index", "index_ref", default=None, metavar="NAME",
              help="Index name or path (default: $PROVENANCE_INDEX, or the only index under ./indexes).")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=20, show_default=True, help="Neighbours per generation.")
@click.option("--group-by", default="", metavar="COLS", help="Comma-separated manifest columns to group by, e.g. model,cohort.")
@click.option("-o", "--out", "out_dir", default=None, metavar="OUTDIR", help="Report directory (default: reports/<input name>).")
@click.option("--force", is_flag=True, help="Trace every generation again instead of resuming.")
@click.option("--remote-thumbnails", is_flag=True,
              help="Show neighbours' remote images (<img src=URL>) in report.html; by default opening it contacts no host.")
@click.option("--threshold", type=float, default=None, help="Near-duplicate cosine threshold (default: per encoder; see run.json).")
@click.option("--path-col", default=None, help="Manifest column holding image paths (default: path, file, filename, image).")
@click.option("--ocr/--no-ocr", default=True, show_default=True, help="Look for stock-agency watermark text in the generations (OCR, about 0.5 s per generation).")
@click.option("--faces/--no-faces", default=True, show_default=True, help="Face / selfie cues from the generations.")
@click.option("--batch-size", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="Generations traced and committed together (at most this much is redone after an interruption).")
@click.option("--show", type=click.IntRange(1, 100), default=8, show_default=True, help="Neighbours shown per generation in report.html.")
@click.option("--encoder", default=None, metavar="SPEC", help="Load the index's model from elsewhere (same weights only).")
@precision_option
@device_option
@engine_option("the generations")
@progress_option
@json_option
def report_cmd(inputs, index_ref, k, group_by, out_dir, force, remote_thumbnails, threshold, path_col, ocr, faces, batch_size,
               show, encoder, precision, device, engine, progress, as_json):
    """Trace every generation in INPUT and write a report directory.

    INPUT is a folder of images or a manifest (.csv, .parquet, .jsonl) with a path column
    and any grouping columns (model, cohort, scene, prompt, seed). Relative paths are
    relative to the manifest. Re-running resumes: generations already traced are skipped.

    \b
    Writes OUTDIR/report.html, generations.parquet/.csv, neighbours.parquet, groups.csv,
    group_tests.csv, plots/*.png and run.json.

    \b
    Examples:
      provenance report examples/generations/manifest.csv --index demo --group-by model,cohort -o reports/example
      provenance report study.parquet --index laion -k 50 --group-by model,cohort,scene -o reports/study
      provenance report generated/ --index laion --group-by folder -o reports/folders
    """
    from pathlib import Path

    from ..index import open_index
    from ..report import read_inputs, run_report
    from ..report.runner import command_line

    cols = [c.strip() for c in group_by.split(",") if c.strip()]
    data = read_inputs(inputs, cols, path_col)
    ix = open_index(index_ref)
    out = Path(out_dir) if out_dir else Path("reports") / (Path(inputs).stem or "report")
    cmd = command_line("report", [inputs], {"--index": index_ref, "-k": k, "--group-by": ",".join(cols), "-o": str(out),
                                            "--threshold": threshold, "--path-col": path_col, "--no-ocr": not ocr,
                                            "--no-faces": not faces, "--encoder": encoder})
    summary = run_report(ix, data, out, k=k, force=force, remote_thumbnails=remote_thumbnails, threshold=threshold, ocr=ocr,
                         faces=faces, batch_size=batch_size, show_neighbours=show, encoder=encoder, device=device,
                         precision=precision, engine=engine, progress=progress_enabled(progress), command=cmd)
    if as_json:
        emit_json(summary.to_dict())
        return
    print_summary(summary)


def print_summary(s) -> None:
    from pathlib import Path

    from rich.table import Table

    out = console()
    out.print(f"[bold]{s.n_generations}[/bold] generation(s) traced ({s.n_traced_now} now, {s.n_resumed} from an earlier run) "
              f"in {s.seconds:.1f}s; {s.n_near_duplicate} with a near-duplicate neighbour (cosine ≥ {s.threshold:g})")
    if s.skipped:
        out.print(f"[yellow]{len(s.skipped)} input(s) skipped[/yellow]: " + ", ".join(f"{n} {r}" for r, n in s.skip_reasons.items()))
        for sk in s.skipped[:5]:
            out.print(f"  {sk.get('ref')}: {sk.get('path') or ''} ({sk['reason']})", markup=False)
    combined = "+".join(s.group_by) or "(all)"
    t = Table(title=f"nearest-neighbour source composition by {combined.replace('+', ', ')}", title_justify="left")
    for col in [*(s.group_by or ["group"]), "n", *s.classes, "near-dup"]:
        t.add_column(col, justify="right" if col not in s.group_by else "left")
    shown = [c for c in s.classes]
    for g in s.groups:
        if g["grouping"] != combined:
            continue
        cells = [str(g[c]) for c in s.group_by] or ["(all)"]
        cells.append(str(g["n"]))
        for c in shown:
            low, high = g[f"share_{c}_low"], g[f"share_{c}_high"]
            cells.append(f"{g[f'share_{c}']:.0%}" + (f" [{low:.0%}–{high:.0%}]" if low is not None else ""))
        cells.append(str(g["n_near_duplicate"]))
        t.add_row(*cells)
    out.print(t)
    for row in s.tests:
        if row.get("source") == "all" and row.get("p_value") is not None:
            out.print(f"  {row['grouping']}: {row['test']} p = {row['p_value']:.3g}", markup=False)
    out.print(f"report: [bold]{Path(s.out_dir) / 'report.html'}[/bold]  (tables, plots and run.json in {s.out_dir})")
    for note in s.notes:
        out.print(f"[dim]note: {note}[/dim]")
