#!/usr/bin/env python
"""Search benchmark: recall@10 against exact search, single-query latency, batch throughput, memory.

For every index type the automatic choice produces on the synthetic corpora of
bench_build.py (exact Flat at 100k; IVF-PQ fast scan with exact re-ranking at
1M and 10M; IVF-Flat at 1M when the memory budget holds the raw vectors),
through the public API ``provenance.open_index(path).search(vectors, k)``.
Queries are fresh draws from the corpus's mixture (never indexed); the truth
is brute force over the stored float32 vectors. Missing indexes are built first.

Examples:
  python scripts/bench/bench_search.py                    # 100k auto, 1M auto and roomy
  python scripts/bench/bench_search.py --sizes 1M --variants auto --queries 500
  python scripts/bench/bench_search.py --big              # adds 10M
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_WORKDIR, emit, machine, parse_count, queries  # noqa: E402
from bench_build import build, index_path, variants  # noqa: E402


def measure(path: Path, n_queries: int, k: int, single: int, dim: int) -> dict:
    import numpy as np
    import psutil

    import provenance
    from provenance.index.exact import exact_knn, recall_at

    proc = psutil.Process()
    q = queries(n_queries, dim)
    ix = provenance.open_index(path)
    gc.collect()
    before = proc.memory_info().rss
    t0 = time.perf_counter()
    ix.search(q[:1], k)  # loads the FAISS index (and maps the stored vectors)
    load_s = time.perf_counter() - t0
    loaded = proc.memory_info().rss
    t0 = time.perf_counter()
    _, truth = exact_knn(q, ix.parts.iter_vectors(), k)
    exact_s = time.perf_counter() - t0
    lat = []
    for i in range(min(single, n_queries)):
        t = time.perf_counter()
        ix.search(q[i : i + 1], k)
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    _, found = ix.search(q, k)
    batch_s = time.perf_counter() - t
    after = proc.memory_info()
    f = ix.manifest["faiss"]
    index_bytes = (path / f["file"]).stat().st_size
    raw = ix.count * ix.dim * 4
    return {
        "n": ix.count, "factory": f["factory"], "nprobe": f.get("nprobe"), "rerank": f.get("rerank"),
        "recall_at_10": round(recall_at(found, truth, k), 4),
        "p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 3), "p95_ms": round(float(np.percentile(lat, 95)) * 1e3, 3),
        "batch_qps": round(n_queries / batch_s, 1), "load_s": round(load_s, 2),
        "index_mb": round(index_bytes / 2**20, 1), "index_over_raw": round(index_bytes / raw, 4),
        "rss_load_mb": round((loaded - before) / 2**20, 1), "rss_after_mb": round(after.rss / 2**20, 1),
        "exact_ms_per_query": round(exact_s / n_queries * 1e3, 2), "queries": n_queries, "path": str(path),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100k,1M")
    ap.add_argument("--big", action="store_true", help="also the 10M corpus")
    ap.add_argument("--variants", default="auto,roomy", help="auto (default budget) and/or roomy (IVF-Flat, 1M only)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--single", type=int, default=500, help="queries timed one at a time")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--threads", type=int, default=None, help="FAISS/OpenMP threads (default: all cores)")
    args = ap.parse_args()
    if args.threads:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    sizes = [parse_count(s) for s in args.sizes.split(",") if s]
    if args.big and 10_000_000 not in sizes:
        sizes.append(10_000_000)
    wanted = set(args.variants.split(","))
    rows = []
    for n in sizes:
        for variant, budget in variants(n, args.dim):
            if variant not in wanted:
                continue
            path = index_path(args.workdir, n, variant)
            if not (path / "manifest.json").exists():
                build(args.workdir, n, args.dim, variant, budget, 65_536)
            rows.append({"variant": variant, **measure(path, args.queries, args.k, args.single, args.dim)})
            print(f"  {n} {variant}: recall {rows[-1]['recall_at_10']}, p50 {rows[-1]['p50_ms']} ms", file=sys.stderr, flush=True)
    cols = ["n", "variant", "factory", "nprobe", "rerank", "recall_at_10", "p50_ms", "p95_ms", "batch_qps", "index_mb",
            "index_over_raw", "rss_load_mb", "load_s"]
    emit(f"Search (k={args.k}, {args.queries} held-out queries, {os.cpu_count()} cores)", cols, rows,
         {"bench": "search", "machine": machine(), "results": rows})


if __name__ == "__main__":
    main()
