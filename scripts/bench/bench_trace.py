#!/usr/bin/env python
"""End-to-end trace benchmark: `provenance trace` wall time, process start to printed table.

Traces 1 image (median of --repeat runs) and 100 images against the 1M-vector
index of bench_build.py (built with the open_clip:ViT-B-32 identity, so the
trace runs the real ViT-B-32; random weights time like trained ones), with the
command's default options and with --no-ocr --no-faces (embedding and search
only), for both query engines: the compiled ONNX copy of the image tower
(``--engine onnx``; its one-time export is timed first, as "first trace", with
an empty cache) and PyTorch (``--engine torch``, weights read from a
safetensors file as trained weights are). Per-image time of the 100-image run
is shown next to the bare model forward time per image at the trace batch size,
for torch at the automatic precision and for ONNX Runtime (float32).

Examples:
  python scripts/bench/bench_trace.py
  python scripts/bench/bench_trace.py --images 20 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_WORKDIR, ENCODER, PROVENANCE, emit, machine, parse_count, run_measured  # noqa: E402
from bench_build import build, index_path  # noqa: E402
from bench_embed import bare_forward, make_images  # noqa: E402

TRACE_BATCH = 32  # provenance.trace.trace_images' default batch size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-size", default="1M", help="size of the bench_build.py corpus to trace against (default 1M)")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the one-image trace (median reported)")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = ap.parse_args()
    n = parse_count(args.index_size)
    path = index_path(args.workdir, n, "auto")
    if not (path / "manifest.json").exists():
        build(args.workdir, n, 512, "auto", None, 65_536)
    folder, _ = make_images(args.workdir, max(args.images, 100))
    images = sorted(str(p) for p in folder.glob("*.jpg"))[: args.images]
    weights = local_weights(args.workdir)
    cache = args.workdir / "onnx-cache"
    env = {"PROVENANCE_CACHE": str(cache)}
    rows = []
    import shutil

    shutil.rmtree(cache, ignore_errors=True)  # the first trace below exports the compiled copy
    first = run_measured([*PROVENANCE, "trace", images[0], "--index", str(path), "--no-ocr", "--no-faces"], env)
    rows.append({"options": "first trace: exports the compiled copy (once per weights), --no-ocr --no-faces", "images": 1,
                 "wall_s": first["seconds"], "per_image_s": first["seconds"], "engine": "torch + export"})
    print(f"  first trace (export): {first['seconds']} s", file=sys.stderr, flush=True)
    torch_weights = ["--engine", "torch", "--encoder", f"open_clip:ViT-B-32@{weights}"]
    configs = (
        ("onnx", "default options", ["--engine", "onnx"]),
        ("onnx", "--no-ocr --no-faces", ["--engine", "onnx", "--no-ocr", "--no-faces"]),
        ("torch", "default options", torch_weights),
        ("torch", "--no-ocr --no-faces", [*torch_weights, "--no-ocr", "--no-faces"]),
    )
    for engine, label, extra in configs:
        one = []
        for _ in range(args.repeat):
            cmd = [*PROVENANCE, "trace", images[0], "--index", str(path), *extra]
            one.append(run_measured(cmd, env)["seconds"])
        rows.append({"options": label, "engine": engine, "images": 1, "wall_s": round(statistics.median(one), 2),
                     "per_image_s": round(statistics.median(one), 2), "runs": one,
                     "command": " ".join(["trace", "IMG", "--index", str(path), *extra])})
        cmd = [*PROVENANCE, "trace", *images, "--index", str(path), *extra]
        run = run_measured(cmd, env)
        rows.append({"options": label, "engine": engine, "images": len(images), "wall_s": run["seconds"],
                     "per_image_s": round(run["seconds"] / len(images), 3), "peak_rss_gb": run["peak_rss_gb"],
                     "command": " ".join(["trace", f"{len(images)} IMGs", "--index", str(path), *extra])})
        print(f"  {engine}, {label}: 1 image {rows[-2]['wall_s']} s, {len(images)} images {run['seconds']} s",
              file=sys.stderr, flush=True)
    import os

    from provenance.encoders import load_encoder, onnx_engine

    enc = load_encoder(ENCODER, precision="auto")
    fwd = bare_forward(enc, TRACE_BATCH, seconds=6)
    os.environ.update(env)
    compiled = onnx_engine.load(enc.fingerprint)
    onnx_fwd = bare_forward(compiled, TRACE_BATCH, seconds=6) if compiled is not None else None
    for r in rows:
        r["forward_per_image_s"] = round(1 / fwd, 4)
        r["forward_precision"] = enc.precision
        r["onnx_forward_per_image_s"] = round(1 / onnx_fwd, 4) if onnx_fwd else None
    emit(f"provenance trace against the {args.index_size} index ({ENCODER}, process start to printed table)",
         ["engine", "options", "images", "wall_s", "per_image_s", "forward_per_image_s", "forward_precision",
          "onnx_forward_per_image_s"], rows,
         {"bench": "trace", "machine": machine(), "index": str(path), "results": rows})


def local_weights(workdir: Path) -> Path:
    """The random ViT-B-32 (same fingerprint as the bench index's encoder) saved as safetensors."""
    path = workdir / "vit-b-32-random.safetensors"
    if not path.exists():
        from safetensors.torch import save_file

        from provenance.encoders import load_encoder

        enc = load_encoder(ENCODER, precision="fp32")
        save_file({k: v.contiguous() for k, v in enc._model.state_dict().items()}, str(path))
    return path


if __name__ == "__main__":
    main()
