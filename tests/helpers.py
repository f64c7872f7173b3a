"""Test data the tests make themselves, and a CLI runner."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Iterable

import numpy as np
from click.testing import CliRunner
from PIL import Image

PHOTO_NAMES = ["astronaut", "brick", "camera", "chelsea",  # "cat" is the same picture as chelsea
               "clock", "coffee", "coins", "grass", "gravel",
               "horse", "moon", "rocket", "text", "page", "retina"]
HOSTS = ["https://www.shutterstock.com/image-photo/{n}-260nw-1.jpg", "https://scontent.cdninstagram.com/v/{n}.jpg",
         "https://i.ebayimg.com/images/g/{n}/s-l500.jpg", "https://cdn.cnn.com/cnnnext/dam/assets/{n}.jpg"]


def load_photos() -> dict[str, Image.Image]:
    from skimage import data

    out = {}
    for n in PHOTO_NAMES:
        arr = getattr(data, n)()
        out[n] = Image.fromarray(arr).convert("RGB")
    return out


def caption_for(name: str) -> str:
    return f"a photo of {name}"


def url_for(i: int, name: str) -> str:
    return HOSTS[i % len(HOSTS)].format(n=name)


def jpeg_bytes(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def edited_copy(im: Image.Image) -> Image.Image:
    """A resized, JPEG-recompressed copy: what a memorised generation may look like."""
    small = im.resize((max(8, im.width * 3 // 4), max(8, im.height * 3 // 4)), Image.BICUBIC)
    return Image.open(io.BytesIO(jpeg_bytes(small, quality=55))).convert("RGB")


def write_folder(root: Path, photos: dict[str, Image.Image], names: Iterable[str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names or photos):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        photos[name].save(sub / f"{name}.jpg", quality=92)
        if i % 3 == 0:
            (sub / f"{name}.txt").write_text(caption_for(name))
        else:
            (sub / f"{name}.json").write_text(json.dumps({"caption": caption_for(name), "url": url_for(i, name), "pwatermark": 0.1 * (i % 10)}))
    return root


def add_tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_shards(root: Path, photos: dict[str, Image.Image], per_shard: int = 5) -> list[Path]:
    """img2dataset-style shards: KEY.jpg + KEY.txt + KEY.json per sample."""
    root.mkdir(parents=True, exist_ok=True)
    names = list(photos)
    paths = []
    for s in range(0, len(names), per_shard):
        path = root / f"{s // per_shard:05d}.tar"
        with tarfile.open(path, "w") as tar:
            for j, name in enumerate(names[s : s + per_shard]):
                key = f"{s // per_shard:05d}{j:04d}"
                add_tar_member(tar, f"{key}.jpg", jpeg_bytes(photos[name]))
                add_tar_member(tar, f"{key}.txt", caption_for(name).encode())
                add_tar_member(tar, f"{key}.json", json.dumps({"url": url_for(s + j, name), "key": key, "name": name}).encode())
        paths.append(path)
    return paths


def write_clip_retrieval(root: Path, vectors: np.ndarray, rows: list[dict], per_file: int) -> Path:
    """The clip-retrieval inference output layout: img_emb/img_emb_N.npy + metadata/metadata_N.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "img_emb").mkdir(parents=True, exist_ok=True)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    for f, s in enumerate(range(0, len(rows), per_file)):
        np.save(root / "img_emb" / f"img_emb_{f}.npy", vectors[s : s + per_file].astype(np.float16 if f % 2 else np.float32))
        pq.write_table(pa.Table.from_pylist(rows[s : s + per_file]), root / "metadata" / f"metadata_{f}.parquet")
    return root


def run_cli(*args: str, expect: int | None = 0, input: str | None = None):
    """Run the real click CLI in-process; assert the exit code unless expect is None."""
    from provenance.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=True)
    if expect is not None and result.exit_code != expect:
        exc = result.exception
        import traceback

        tb = "".join(traceback.format_exception(exc)) if exc and not isinstance(exc, SystemExit) else ""
        raise AssertionError(f"exit {result.exit_code} != {expect} for {args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{tb}")
    return result


def record_precisions(index, monkeypatch) -> list[str]:
    """Make ``index.encoder`` and ``index.image_encoder`` note the precision of every call (the list
    returned fills as it runs; an image-encoder call that loads the torch model notes it twice)."""
    asked: list[str] = []
    real, real_image = index.encoder, index.image_encoder

    def recording(spec=None, *, device=None, precision="auto"):
        asked.append(precision)
        return real(spec, device=device, precision=precision)

    def recording_image(spec=None, *, device=None, precision="auto", engine=None):
        asked.append(precision)
        return real_image(spec, device=device, precision=precision, engine=engine)

    monkeypatch.setattr(index, "encoder", recording)
    monkeypatch.setattr(index, "image_encoder", recording_image)
    return asked
