"""Shared by the benchmarks: work folder, synthetic corpora, peak-RSS runs, table + JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WORKDIR = Path(os.environ.get("PROVENANCE_BENCH_DIR", "/tmp/provenance-bench"))
PROVENANCE = [str(Path(sys.executable).with_name("provenance"))]
ENCODER = "open_clip:ViT-B-32"  # random weights: same shapes and timing as the trained model


def machine() -> dict[str, Any]:
    import platform

    import psutil

    from provenance.encoders.precision import cpu_has_bf16

    return {"cpus": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": platform.processor() or platform.machine(), "cpu_model": _cpu_model(), "native_bf16": cpu_has_bf16(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def _cpu_model() -> str:
    """The CPU's model name: figures differ a lot between machines of the same core count."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def parse_count(text: str) -> int:
    """'100k' -> 100000, '1M' -> 1000000, '2500' -> 2500."""
    t = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def human_count(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % (div // 10) == 0:
            v = n / div
            return f"{v:g}{unit}"
    return str(n)


WEB_ROWS = REPO.parent / "shared" / "data" / "web_alt_text.parquet"


def web_corpus(workdir: Path, n: int, dim: int = 512, seed: int = 0) -> Path:
    """The vectors of :func:`synthetic_corpus` with real web metadata: each row's URL and alt-text are
    those of a row of ``../shared/data/web_alt_text.parquet`` (10,000 real rows, cycled), so that
    source labelling costs what it costs on LAION-like rows. Keys stay unique."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = synthetic_corpus(workdir, n, dim, seed)
    root = workdir / f"corpus-{human_count(n)}-d{dim}-s{seed}-web"
    done = root / "COMPLETE"
    if done.exists():
        return root
    if not WEB_ROWS.exists():
        raise SystemExit(f"--metadata web needs {WEB_ROWS} (the shared data next to the repository)")
    web = pq.read_table(WEB_ROWS, columns=["url", "caption"])
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    if not (root / "img_emb").exists():
        (root / "img_emb").symlink_to((base / "img_emb").resolve(), target_is_directory=True)  # same vectors, not copied
    start = 0
    for path in sorted((base / "metadata").glob("metadata_*.parquet"), key=lambda p: int(p.stem.split("_")[1])):
        count = pq.read_metadata(path).num_rows
        idx = pa.array([(start + i) % web.num_rows for i in range(count)])
        rows = web.take(idx)
        pq.write_table(pa.table({"key": [f"{i:010d}" for i in range(start, start + count)],
                                 "url": rows.column("url"), "caption": rows.column("caption")}),
                       root / "metadata" / path.name)
        start += count
    done.write_text(str(n))
    return root


def synthetic_corpus(workdir: Path, n: int, dim: int = 512, seed: int = 0, per_file: int = 250_000) -> Path:
    """``n`` clustered vectors in the clip-retrieval layout (float16, like LAION's), written once and reused."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from provenance.index.synthetic import GaussianMixture

    root = workdir / f"corpus-{human_count(n)}-d{dim}-s{seed}"
    done = root / "COMPLETE"
    if done.exists():
        return root
    (root / "img_emb").mkdir(parents=True, exist_ok=True)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    mix = GaussianMixture(dim=dim, seed=seed)
    for f, start in enumerate(range(0, n, per_file)):
        count = min(per_file, n - start)
        vecs = np.concatenate(list(mix.chunks(count, 50_000, start=start)))
        np.save(root / "img_emb" / f"img_emb_{f}.npy", vecs.astype(np.float16))
        ids = range(start, start + count)
        pq.write_table(pa.table({"key": [f"{i:010d}" for i in ids],
                                 "url": [f"https://images.example.com/{i % 997}/{i}.jpg" for i in ids],
                                 "caption": [f"synthetic item {i}" for i in ids]}), root / "metadata" / f"metadata_{f}.parquet")
    done.write_text(str(n))
    return root


def queries(n_queries: int, dim: int = 512, seed: int = 0):
    """Held-out queries from the corpus's own mixture (never indexed)."""
    from provenance.index.synthetic import GaussianMixture

    return GaussianMixture(dim=dim, seed=seed).queries(n_queries)


def run_measured(cmd: Sequence[str], env: dict | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall seconds, peak RSS of its process tree (sampled every 0.1 s), stdout."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        try:
            p = psutil.Process(proc.pid)
            while not stop.is_set():
                rss = 0
                for q in [p] + p.children(recursive=True):
                    try:
                        rss += q.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, rss)
                time.sleep(0.1)
        except psutil.Error:
            pass

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    stop.set()
    th.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    return {"seconds": round(wall, 2), "peak_rss_gb": round(peak / 2**30, 3), "stdout": out, "stderr": err}


def emit(title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]], doc: dict[str, Any]) -> None:
    """A human table on stdout, then one JSON line (``doc``) for machines."""
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) if rows else len(c) for c in columns]
    print(title)
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))
    print(json.dumps(doc, default=str))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)
