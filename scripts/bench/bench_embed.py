#!/usr/bin/env python
"""Embedding throughput: the real pipeline (read, decode, preprocess, embed) against the bare model.

Makes N JPEG photos (varied crops of scikit-image's offline samples, web-like
sizes), stores them as an image folder and as webdataset shards, then measures
images/s for:

  forward   model.encode_image on ready tensors at the same batch size (the ceiling)
  folder    provenance's embed pipeline over the folder source, decode included
  shards    the same over the .tar shards

Each pipeline run sits between two bare-forward runs and is compared with their mean (the shared
machine's speed drifts); the median over --repeat runs is reported, with every ratio in the JSON.
  index     the whole `provenance index` command on the shards (model load included)

for each precision and engine asked (torch; onnx, the compiled copy of the image
tower that float32 builds on the CPU use), and checks that reduced-precision and
ONNX embeddings match torch float32 ones (min cosine over all images).

Examples:
  python scripts/bench/bench_embed.py                       # 600 images, ViT-B-32, auto precision
  python scripts/bench/bench_embed.py --precisions fp32,bf16 --images 300
  python scripts/bench/bench_embed.py --encoder tiny --images 200
  python scripts/bench/bench_embed.py --precisions fp32 --engines torch,onnx
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_WORKDIR, ENCODER, PROVENANCE, emit, machine, run_measured  # noqa: E402

SAMPLES = ["astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins", "grass", "gravel", "horse",
           "moon", "rocket", "text", "page", "retina", "hubble_deep_field", "immunohistochemistry", "stereo_motorcycle"]


def make_images(root: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """``n`` JPEGs (longest side 320-1024 px) as a folder and as 100-image shards; cached by n and seed."""
    import numpy as np
    from PIL import Image
    from skimage import data

    folder, shards = root / f"images-{n}-s{seed}", root / f"shards-{n}-s{seed}"
    if (folder / "COMPLETE").exists() and (shards / "COMPLETE").exists():
        return folder, shards
    folder.mkdir(parents=True, exist_ok=True)
    shards.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bases = []
    for name in SAMPLES:
        arr = getattr(data, name)()
        if isinstance(arr, tuple):
            arr = arr[0]
        bases.append(Image.fromarray(arr).convert("RGB"))
    tar = None
    for i in range(n):
        im = bases[i % len(bases)]
        w, h = im.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = im.crop((x, y, x + cw, y + ch))
        side = int(rng.integers(320, 1025))
        scale = side / max(crop.size)
        crop = crop.resize((max(16, int(crop.width * scale)), max(16, int(crop.height * scale))), Image.BICUBIC)
        buf = io.BytesIO()
        crop.save(buf, format="JPEG", quality=int(rng.integers(75, 96)))
        blob = buf.getvalue()
        key = f"{i:06d}"
        (folder / f"{key}.jpg").write_bytes(blob)
        (folder / f"{key}.txt").write_text(f"benchmark image {i}")
        if i % 100 == 0:
            if tar:
                tar.close()
            tar = tarfile.open(shards / f"{i // 100:05d}.tar", "w")
        for name, payload in ((f"{key}.jpg", blob), (f"{key}.txt", f"benchmark image {i}".encode())):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    if tar:
        tar.close()
    (folder / "COMPLETE").write_text(str(n))
    (shards / "COMPLETE").write_text(str(n))
    return folder, shards


def bare_forward(encoder, batch: int, seconds: float = 10.0) -> float:
    """Images/s of the encoder on a ready batch (after the first-batch precision check)."""
    import torch

    x = torch.randn(batch, 3, encoder.image_size, encoder.image_size)
    encoder.embed_pixels(x[:2])  # settles precision
    encoder.embed_pixels(x)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        encoder.embed_pixels(x)
        n += batch
    return n / (time.perf_counter() - t0)


def pipeline(encoder, source: str, batch: int, workers: int | None):
    import numpy as np

    from provenance.embed import embed_items
    from provenance.ingest import open_source

    src = open_source(source, "auto")
    items = (e for u in src.units() for e in u.open())
    t0 = time.perf_counter()
    vecs = [(it.key, v) for it, v in (o for o in embed_items(items, encoder, batch_size=batch, workers=workers) if isinstance(o, tuple))]
    dt = time.perf_counter() - t0
    vecs.sort(key=lambda kv: kv[0].rsplit("/", 1)[-1].rsplit(".", 1)[0][-6:])
    return len(vecs) / dt, np.stack([v for _, v in vecs])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--encoder", default=ENCODER)
    ap.add_argument("--precisions", default="auto", help="comma-separated: auto, fp32, bf16, fp16 (default auto)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None, help="decode threads (default: provenance's default)")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each bare-forward measurement")
    ap.add_argument("--repeat", type=int, default=3, help="pipeline runs per source, each between two bare-forward runs")
    ap.add_argument("--engines", default="torch,onnx",
                    help="comma-separated: torch, onnx (the compiled copy; float32 only, skipped for other precisions)")
    ap.add_argument("--no-index", action="store_true", help="skip the full `provenance index` run")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = ap.parse_args()
    import numpy as np

    from provenance.encoders import load_encoder

    folder, shards = make_images(args.workdir, args.images)
    pattern = f"{shards}/{{00000..{(args.images - 1) // 100:05d}}}.tar"
    reference = None
    rows = []
    for prec, engine in [(p, e) for p in args.precisions.split(",") if p for e in args.engines.split(",") if e]:
        t0 = time.perf_counter()
        torch_enc = load_encoder(args.encoder, precision=prec)
        enc = torch_enc
        if engine == "onnx":
            from provenance.encoders import onnx_engine
            from provenance.errors import UsageError

            try:
                enc = onnx_engine.compiled_for(torch_enc, "onnx")
            except UsageError:
                print(f"  {prec}: no onnx run (the compiled copy runs float32 only)", file=sys.stderr, flush=True)
                continue
            if enc is None:
                print(f"  {prec}: {args.encoder} could not be compiled; no onnx run", file=sys.stderr, flush=True)
                continue
        load_s = time.perf_counter() - t0
        # The machine's speed drifts (it is shared): each pipeline run is bracketed by bare-forward
        # runs, its ratio taken against their mean, and the median ratio of --repeat runs reported.
        forwards = [bare_forward(enc, args.batch_size, args.seconds)]
        used = enc.precision
        row = {"precision": used, "requested": prec, "engine": engine, "batch": args.batch_size, "load_s": round(load_s, 2)}
        for name, source in (("folder", str(folder)), ("shards", pattern)):
            speeds, ratios = [], []
            for _ in range(args.repeat):
                ips, vecs = pipeline(enc, source, args.batch_size, args.workers)
                forwards.append(bare_forward(enc, args.batch_size, args.seconds))
                speeds.append(ips)
                ratios.append(ips / ((forwards[-2] + forwards[-1]) / 2))
            row[f"{name}_img_s"] = round(statistics.median(speeds), 1)
            row[f"{name}_vs_forward"] = round(statistics.median(ratios), 3)
            row[f"{name}_ratios"] = [round(r, 3) for r in ratios]
            if name == "folder":
                if used == "fp32" and engine == "torch" and reference is None:
                    reference = vecs
                row["_vecs"] = vecs
        fwd = statistics.median(forwards)
        row["forward_img_s"] = round(fwd, 1)
        row["forward_runs"] = [round(v, 1) for v in forwards]
        if not args.no_index:
            out = args.workdir / "indexes" / "bench-embed"
            cmd = [*PROVENANCE, "index", str(out), "--from", pattern,
                   "--encoder", args.encoder, "--precision", prec, "--engine", engine, "--batch-size", str(args.batch_size),
                   "--overwrite", "--no-progress", "--json", "--no-faces"]
            run = run_measured(cmd)
            rep = json.loads(run["stdout"])
            row["index_cmd_img_s"] = round(rep["added"] / run["seconds"], 1)
            row["index_cmd_s"] = run["seconds"]
            row["index_cmd"] = " ".join(cmd[1:])
        rows.append(row)
        print(f"  {prec}, {engine}: forward {fwd:.1f} img/s, folder {row['folder_img_s']}, shards {row['shards_img_s']}",
              file=sys.stderr, flush=True)
    if reference is None and any(r["precision"] != "fp32" for r in rows):
        enc = load_encoder(args.encoder, precision="fp32")
        _, reference = pipeline(enc, str(folder), args.batch_size, args.workers)
    for r in rows:
        vecs = r.pop("_vecs")
        if reference is not None:
            r["min_cosine_vs_fp32"] = round(float(np.min(np.sum(vecs * reference, axis=1))), 6)
    cols = ["precision", "engine", "batch", "forward_img_s", "folder_img_s", "folder_vs_forward", "shards_img_s", "shards_vs_forward",
            "index_cmd_img_s", "min_cosine_vs_fp32", "load_s"]
    emit(f"Embedding throughput, {args.encoder}, {args.images} JPEGs (320-1024 px), images/s", cols, rows,
         {"bench": "embed", "encoder": args.encoder, "images": args.images, "machine": machine(), "results": rows})


if __name__ == "__main__":
    main()
