"""``provenance sources``: source attribution without an index."""

from __future__ import annotations

import time

import click

from .common import console, emit_json, json_option

taxonomy_option = click.option(
    "--taxonomy", type=click.Path(exists=True, dir_okay=False), default=None,
    help="Taxonomy file (TOML or JSON) extending the built-in one, or replacing it with [meta] mode = \"replace\".")


@click.group("sources")
def sources_group() -> None:
    """Label images by the kind of source that published them (personal, stock, commercial, editorial, art, other)."""


@sources_group.command("classify")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Output file: .csv, .tsv or .parquet (format from the extension).")
@click.option("--url-col", default="url", show_default=True, help="Column holding the image URL.")
@click.option("--caption-col", default="caption", show_default=True, help="Column holding the caption / alt-text.")
@click.option("--watermark-col", default="pwatermark", show_default=True,
              help="Column holding a watermark probability (LAION's pwatermark); ignored when absent.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default: one per CPU core, up to 8, for inputs of 200,000 rows or more).")
@taxonomy_option
@json_option
def classify_cmd(input_path, output_path, url_col, caption_col, watermark_col, workers, taxonomy, as_json):
    """Label every row of INPUT (CSV, TSV or Parquet) from its URL and caption.

    Writes the input columns plus label, label_confidence, selfie, one p_<class> column per
    class and evidence (JSON: which signal said what). An input column already named like
    one of these is kept as input_<name>.

    \b
    Examples:
      provenance sources classify rows.csv -o labelled.csv
      provenance sources classify laion-part.parquet -o labelled.parquet --caption-col TEXT --url-col URL
      provenance sources classify rows.csv -o out.csv --taxonomy my-hosts.toml --json
    """
    from ..attribute import SourceClassifier, classify_rows
    from ..attribute.table import read_table, write_table

    table = read_table(input_path)
    clf = SourceClassifier(taxonomy)
    t0 = time.perf_counter()
    out = classify_rows(table, url_col, caption_col, watermark_col, classifier=clf, workers=workers)
    seconds = time.perf_counter() - t0
    write_table(out, output_path)
    labels = out.column("label").to_pylist()
    counts = {c: labels.count(c) for c in clf.classes}
    selfies = sum(1 for s in out.column("selfie").to_pylist() if s)
    doc = {"input": str(input_path), "output": str(output_path), "rows": out.num_rows, "labels": counts, "selfie": selfies,
           "seconds": round(seconds, 3), "taxonomy": clf.tax.describe()}
    if as_json:
        emit_json(doc)
        return
    c = console()
    c.print(f"labelled {out.num_rows} rows in {seconds:.2f}s -> {output_path}", markup=False)
    n = max(1, out.num_rows)
    c.print("  " + ", ".join(f"{k} {v} ({v / n:.0%})" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) +
            f"; selfie flag on {selfies}", markup=False)


@sources_group.command("explain")
@click.option("--url", default=None, help="Image URL.")
@click.option("--caption", default=None, help="Caption / alt-text.")
@taxonomy_option
@json_option
def explain_cmd(url, caption, taxonomy, as_json):
    """Show the label, probabilities and evidence for one URL and / or caption.

    \b
    Examples:
      provenance sources explain --url https://cdn.shopify.com/s/files/1/0001/products/mug.jpg
      provenance sources explain --caption "me and my sister at the beach #summer" --json
    """
    from ..attribute import SourceClassifier
    from ..errors import UsageError

    if not url and not caption:
        raise UsageError("give --url and/or --caption to explain")
    att = SourceClassifier(taxonomy).classify(url, caption)
    if as_json:
        emit_json({"url": url, "caption": caption, "label": att.label, "confidence": round(att.confidence, 4),
                   "selfie": att.selfie, "probabilities": {k: round(v, 4) for k, v in att.probabilities.items()},
                   "evidence": att.evidence})
        return
    c = console()
    c.print(f"{att.label} (p={att.confidence:.2f})" + (" selfie" if att.selfie else ""), markup=False)
    c.print("  " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(att.probabilities.items(), key=lambda kv: -kv[1])), markup=False)
    for signal, cls, weight, match in att.evidence:
        c.print(f"  {signal:<9} {cls:<11} {weight:+.2f}  {match}", markup=False)
    if not att.evidence:
        c.print("  no evidence: the label is the fallback class with a low probability", markup=False)
