#!/usr/bin/env python
"""Evaluate the URL / caption source classifier on hand-labelled rows.

FILE is a CSV or Parquet file with url, caption and label columns (default: the shared
development set ../shared/data/web_alt_text_labelled_dev.csv). Prints accuracy, macro-F1,
per-class precision / recall / F1 and the confusion matrix, then one JSON line.

    python scripts/eval_sources.py
    python scripts/eval_sources.py --half 2          # only the rows of one hash half
    python scripts/eval_sources.py --rules-only      # without the learned model (hand-written rules alone)
    python scripts/eval_sources.py other.csv --taxonomy mine.toml --errors 20
    python scripts/eval_sources.py --bench           # speed: rows/s, face and OCR ms per image
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "data" / "web_alt_text_labelled_dev.csv"
BULK = REPO.parent / "shared" / "data" / "web_alt_text.parquet"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", default=str(DEFAULT), help="labelled CSV / Parquet (default: the shared dev set)")
    ap.add_argument("--url-col", default="url")
    ap.add_argument("--caption-col", default="caption")
    ap.add_argument("--label-col", default="label")
    ap.add_argument("--watermark-col", default="pwatermark")
    ap.add_argument("--taxonomy", default=None, help="taxonomy file extending / replacing the built-in one")
    ap.add_argument("--half", type=int, choices=(1, 2), default=None,
                    help="evaluate only one half of the rows, split by a hash of the 'row' column (or the line number)")
    ap.add_argument("--rules-only", action="store_true", help="switch the learned model off: the hand-written rules alone")
    ap.add_argument("--errors", type=int, default=0, metavar="N", help="also print N misclassified rows with their evidence")
    ap.add_argument("--bench", action="store_true",
                    help="measure speed instead: URL/caption rows per second on the shared 10k-row file, face and OCR ms per image")
    args = ap.parse_args(argv)
    if args.bench:
        return bench(args.taxonomy, args.rules_only)

    from provenance.attribute import SourceClassifier, classify_rows
    from provenance.attribute.evaluate import half_of, scores
    from provenance.attribute.table import read_table
    from provenance.errors import ProvenanceError

    try:
        table = read_table(args.file)
        if args.label_col not in table.column_names:
            print(f"error: {args.file} has no {args.label_col!r} column (columns: {table.column_names})", file=sys.stderr)
            return 2
        if args.half:
            keys = table.column("row").to_pylist() if "row" in table.column_names else list(range(table.num_rows))
            import pyarrow as pa

            table = table.filter(pa.array([half_of(k) == args.half for k in keys]))
        clf = SourceClassifier(args.taxonomy, learned=False if args.rules_only else None)
        t0 = time.perf_counter()
        out = classify_rows(table, args.url_col, args.caption_col, args.watermark_col, classifier=clf)
        seconds = time.perf_counter() - t0
    except ProvenanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    label_col = f"input_{args.label_col}" if args.label_col == "label" else args.label_col
    truth = [str(x).strip() for x in out.column(label_col).to_pylist()]
    pred = out.column("label").to_pylist()
    res = scores(truth, pred, clf.classes)
    _print(res, args, out.num_rows, seconds)
    if args.errors:
        rows = out.to_pylist()
        shown = 0
        for r, t, p in zip(rows, truth, pred):
            if t != p and shown < args.errors:
                shown += 1
                print(f"\n[{t} -> {p} {r['label_confidence']:.2f}] {r.get(args.url_col)}\n    {str(r.get(args.caption_col))[:140]}\n    {r['evidence'][:300]}")
    summary = {"file": str(args.file), "half": args.half, "n": res["n"], "accuracy": res["accuracy"], "macro_f1": res["macro_f1"],
               "per_class_f1": {c: v["f1"] for c, v in res["per_class"].items()}, "taxonomy": clf.tax.describe(),
               "learned_model": {k: v for k, v in clf.describe_model().items() if k in ("enabled", "reason", "file", "features")},
               "rows_per_second": round(out.num_rows / seconds) if seconds else None}
    print(json.dumps(summary))
    return 0


def bench(taxonomy: str | None, rules_only: bool = False) -> int:
    """Speed figures; a pure-Python calibration loop is printed too, since shared machines vary."""
    import pyarrow.parquet as pq
    from PIL import Image, ImageDraw, ImageFont
    from skimage import data

    from provenance.attribute import SourceClassifier, classify_rows, load_taxonomy
    from provenance.attribute.faces import face_signals
    from provenance.attribute.watermark import watermark_signals

    out: dict = {}
    table = pq.read_table(BULK)
    for key, learned in (("classify_rows_per_second", False if rules_only else None), ("rules_only_rows_per_second", False)):
        if key in out:
            continue
        clf = SourceClassifier(taxonomy, learned=learned)
        classify_rows(table.slice(0, 200), classifier=clf)  # warm caches and imports
        best = min(_timed(lambda: classify_rows(table, classifier=clf)) for _ in range(3))
        out[key] = round(table.num_rows / best)
        if rules_only:
            out["rules_only_rows_per_second"] = out[key]
    photos = [Image.fromarray(getattr(data, n)()).convert("RGB") for n in ("astronaut", "coffee", "chelsea", "rocket", "camera")]
    face_signals(photos[0])
    per = [min(_timed(lambda im=im: face_signals(im)) for _ in range(5)) for im in photos]
    out["faces_ms_per_image"] = round(1000 * sum(per) / len(per), 1)
    im = photos[1].resize((640, 400))
    ImageDraw.Draw(im).text((40, 160), "shutterstock", fill=(255, 255, 255), font=ImageFont.load_default(size=72))
    marks = load_taxonomy(taxonomy).watermarks
    out["ocr_first_call_s"] = round(_timed(lambda: watermark_signals(im, marks)), 2)
    out["ocr_ms_per_image"] = round(1000 * min(_timed(lambda: watermark_signals(im, marks)) for _ in range(3)))
    out["calibration_loop_1e7_s"] = round(_timed(_calibration), 3)
    print(f"URL/caption classification: {out['classify_rows_per_second']} rows/s ({table.num_rows} rows of {BULK.name}, best of 3); "
          f"rules alone, without the learned model: {out['rules_only_rows_per_second']} rows/s")
    print(f"face cue: {out['faces_ms_per_image']} ms per image (5 scikit-image photos, best of 5 each)")
    print(f"watermark OCR: {out['ocr_ms_per_image']} ms per 640x400 image (first call {out['ocr_first_call_s']} s: model load)")
    print(f"machine: a pure-Python loop of 1e7 steps took {out['calibration_loop_1e7_s']} s")
    print(json.dumps(out))
    return 0


def _calibration() -> None:
    s = 0
    for i in range(10 ** 7):
        s += i


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _print(res: dict, args, n: int, seconds: float) -> None:
    labels = res["labels"]
    print(f"{args.file}" + (f" (half {args.half})" if args.half else "") + f": {n} rows, classified in {seconds:.2f}s")
    print(f"accuracy {res['accuracy']:.3f}   macro-F1 {res['macro_f1']:.3f}" + ("   (rules only)" if args.rules_only else "") + "\n")
    print(f"{'class':<12}{'precision':>10}{'recall':>8}{'f1':>7}{'support':>9}")
    for c in labels:
        pc = res["per_class"][c]
        if pc["support"] or pc["predicted"]:
            print(f"{c:<12}{pc['precision']:>10.3f}{pc['recall']:>8.3f}{pc['f1']:>7.3f}{pc['support']:>9}")
    width = max(len(c) for c in labels) + 2
    print("\nconfusion (rows: true label, columns: predicted)")
    print(" " * width + "".join(f"{c[:10]:>11}" for c in labels))
    for c, row in zip(labels, res["confusion"]):
        print(f"{c:<{width}}" + "".join(f"{v:>11}" for v in row))
    print()


if __name__ == "__main__":
    sys.exit(main())
