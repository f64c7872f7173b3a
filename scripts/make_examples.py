#!/usr/bin/env python
"""Regenerate examples/generations/ (the example study `provenance demo` and the docs use).

    python scripts/make_examples.py            # writes examples/generations/
    python scripts/make_examples.py -o DIR     # somewhere else

The images are synthetic stand-ins made from scikit-image's bundled photos (no
generator weights exist offline); see src/provenance/demo/examples.py for how
each kind is made. Output is deterministic: re-running gives the same files.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from provenance.demo.examples import make_examples

README = """# Example generations

Synthetic stand-ins for the outputs of two image generators prompted for four
cohorts in three scenes. They are **not** outputs of any generator: no model
weights can be used offline, so `scripts/make_examples.py` makes them from
scikit-image's bundled photos:

- `generator-a/`: a face from scikit-image's LFW subset placed in a scene photo,
  recropped and colour-graded (new pictures that resemble the demo corpus).
- `generator-b/`: edited near-copies of one "person in a scene" item of the demo
  corpus (downscaled, blurred, recompressed; one carries a drawn stock watermark):
  what a generator that memorised a training image would produce. `copied_from`
  names that item; tracing must find it at rank 1.

`manifest.csv` columns: `path` (relative to this folder), `model`, `cohort`,
`scene`, `prompt`, `seed`, `construction` (how the stand-in was made) and
`copied_from`. The cohort of a face is an arbitrary split of the LFW subset, which
has no ages. Differences between groups in a report on these files come from how
they were made: they show what `provenance report` does, not a finding.

Regenerate: `python scripts/make_examples.py`. Used by `provenance demo`, and:

    provenance report examples/generations/manifest.csv --index demo --group-by model,cohort -o reports/example
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / "generations")
    args = ap.parse_args()
    for sub in ("generator-a", "generator-b"):
        shutil.rmtree(args.out / sub, ignore_errors=True)
    examples = make_examples(args.out)
    (args.out / "README.md").write_text(README)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {len(examples)} example generations and manifest.csv to {args.out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
