#!/usr/bin/env python
"""Index build benchmark: wall time, peak RSS and index memory for synthetic 512-d corpora.

Each corpus is N clustered vectors (Gaussian mixture, see provenance.index.synthetic)
in the clip-retrieval layout, indexed by the real command:

    provenance index NAME --from CORPUS --format embeddings --encoder open_clip:ViT-B-32

with the automatic FAISS choice ("auto"), and at 1M also with a memory budget
that holds the raw vectors ("roomy": IVF-Flat). Indexes stay in the work folder
for bench_search.py. Row metadata is short and synthetic by default; --metadata web
gives each row the URL and alt-text of a real web row instead (the shared
web_alt_text.parquet, cycled), so that source labelling costs what it does on LAION.

Examples:
  python scripts/bench/bench_build.py                    # 100k and 1M
  python scripts/bench/bench_build.py --sizes 200k
  python scripts/bench/bench_build.py --big              # adds 10M (20 GB raw; ~30 GB disk)
  python scripts/bench/bench_build.py --sizes 1M --only auto --metadata web
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (DEFAULT_WORKDIR, ENCODER, PROVENANCE, emit, human_count, machine, parse_count, run_measured,  # noqa: E402
                     synthetic_corpus, web_corpus)

ROOMY_FROM = 1_000_000  # sizes from which the IVF-Flat variant is built too (below, auto is exact)
ROOMY_UPTO = 2_000_000  # IVF-Flat holds raw float32 in RAM: not at 10M


def index_path(workdir: Path, n: int, variant: str, metadata: str = "synthetic") -> Path:
    suffix = "" if metadata == "synthetic" else f"-{metadata}"
    return workdir / "indexes" / f"bench-{human_count(n)}-{variant}{suffix}"


def variants(n: int, dim: int) -> list[tuple[str, str | None]]:
    out = [("auto", None)]
    if ROOMY_FROM <= n <= ROOMY_UPTO:
        out.append(("roomy", f"{int(n * dim * 4 * 1.25)}"))
    return out


def build(workdir: Path, n: int, dim: int, variant: str, budget: str | None, commit_every: int,
          metadata: str = "synthetic") -> dict:
    corpus = web_corpus(workdir, n, dim) if metadata == "web" else synthetic_corpus(workdir, n, dim)
    path = index_path(workdir, n, variant, metadata)
    cmd = [*PROVENANCE, "index", str(path), "--from", str(corpus), "--format", "embeddings", "--encoder", ENCODER,
           "--overwrite", "--no-progress", "--json", "--commit-every", str(commit_every)]
    if budget:
        cmd += ["--memory-budget", budget]
    run = run_measured(cmd)
    report = json.loads(run["stdout"])
    faiss = report["faiss"]
    index_bytes = (path / faiss["file"]).stat().st_size
    raw = n * dim * 4
    return {
        "n": n, "variant": variant, "metadata": metadata, "factory": faiss["factory"], "wall_s": run["seconds"],
        "faiss_s": round(sum(faiss.get("seconds", {}).values()), 2), **{f"{k}_s": v for k, v in faiss.get("seconds", {}).items()},
        "peak_rss_gb": run["peak_rss_gb"], "index_mb": round(index_bytes / 2**20, 1),
        "bytes_per_vector": round(index_bytes / n, 1), "raw_over_index": round(raw / index_bytes, 2),
        "nprobe": faiss.get("nprobe"), "rerank": faiss.get("rerank"),
        "tuned_recall_at_10": (faiss.get("tuning") or {}).get("recall_at_10"), "path": str(path),
        "command": " ".join(cmd[1:]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100k,1M", help="comma-separated corpus sizes (default: 100k,1M)")
    ap.add_argument("--big", action="store_true", help="also build the 10M corpus (LAION-scale rehearsal)")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"corpora and indexes (default {DEFAULT_WORKDIR})")
    ap.add_argument("--commit-every", type=int, default=65_536, help="vectors per index part (default 65536)")
    ap.add_argument("--only", choices=["auto", "roomy"], default=None, help="build one variant only")
    ap.add_argument("--metadata", choices=["synthetic", "web"], default="synthetic",
                    help="row metadata: short synthetic URLs and captions (default), or real web URLs and alt-texts "
                         "from ../shared/data/web_alt_text.parquet, cycled (source labelling at its real cost)")
    args = ap.parse_args()
    sizes = [parse_count(s) for s in args.sizes.split(",") if s]
    if args.big and 10_000_000 not in sizes:
        sizes.append(10_000_000)
    if any(n > 2_000_000 for n in sizes) and not args.big:
        raise SystemExit("sizes above 2M need --big")
    rows = []
    for n in sizes:
        for variant, budget in variants(n, args.dim):
            if args.only and variant != args.only:
                continue
            rows.append(build(args.workdir, n, args.dim, variant, budget, args.commit_every, args.metadata))
            print(f"  built {human_count(n)} {variant}: {rows[-1]['wall_s']} s", file=sys.stderr, flush=True)
    cols = ["n", "variant", "metadata", "factory", "wall_s", "faiss_s", "train_s", "add_s", "tune_s", "peak_rss_gb", "index_mb",
            "bytes_per_vector", "raw_over_index", "nprobe", "rerank", "tuned_recall_at_10"]
    emit(f"Index build ({args.dim}-d synthetic clustered vectors, encoder {ENCODER} identity)", cols, rows,
         {"bench": "build", "machine": machine(), "results": rows})


if __name__ == "__main__":
    main()
