"""Hugging Face ``datasets``: a hub name, a ``save_to_disk`` folder, or data files.

Images are read undecoded (``Image(decode=False)``) so a corrupt one is skipped
like any other bad input instead of aborting the iteration.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from ..errors import IngestError, UsageError
from .items import Item, Skip, Unit, clean_caption, clean_text

CAPTION_GUESSES = ("caption", "text", "TEXT", "alt", "prompt", "title")
URL_GUESSES = ("url", "URL", "image_url")
DATA_FILE_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".arrow": "arrow"}
ROWS_PER_UNIT = 10_000


class HFSource:
    format = "hf"
    precomputed = False

    def __init__(
        self,
        name: str,
        *,
        split: str = "train",
        image_col: str | None = None,
        caption_col: str | None = None,
        url_col: str | None = None,
        key_col: str | None = None,
        streaming: bool = False,
        config: str | None = None,
    ):
        self.name = name[3:] if name.startswith("hf:") else name
        self.split = split
        self.streaming = streaming
        self.text = f"hf:{self.name}" + (f"[{config}]" if config else "") + f":{split}"
        self.ds = _load(self.name, split=split, streaming=streaming, config=config)
        features = self.ds.features or {}
        self.image_col = image_col or _guess_image_col(features)
        if self.image_col is None or self.image_col not in features:
            cols = ", ".join(features) if features else "(unknown)"
            raise UsageError(f"dataset {self.name!r} has no image column{' ' + repr(image_col) if image_col else ''}; columns: {cols}. Choose one with --image-col")
        for opt, col in (("--caption-col", caption_col), ("--url-col", url_col), ("--key-col", key_col)):
            if col and col not in features:
                raise UsageError(f"dataset {self.name!r} has no column {col!r} (given by {opt}); columns: {', '.join(features)}")
        self.caption_col = caption_col or next((c for c in CAPTION_GUESSES if c in features), None)
        self.url_col = url_col or next((c for c in URL_GUESSES if c in features), None)
        self.key_col = key_col
        from datasets import Image as HFImage

        if type(features[self.image_col]).__name__ == "Image":
            self.ds = self.ds.cast_column(self.image_col, HFImage(decode=False))

    def count_hint(self) -> int | None:
        return None if self.streaming else len(self.ds)

    def units(self) -> Iterator[Unit]:
        if self.streaming:
            yield Unit(key=f"{self.text}|stream", open=lambda: self._rows(iter(self.ds), 0))
            return
        n = len(self.ds)
        for start in range(0, n, ROWS_PER_UNIT):
            stop = min(n, start + ROWS_PER_UNIT)
            yield Unit(
                key=f"{self.text}|rows {start}-{stop}",
                open=lambda start=start, stop=stop: self._rows(iter(self.ds.select(range(start, stop))), start),
                size_hint=stop - start,
            )

    def _rows(self, rows: Iterator[dict[str, Any]], offset: int) -> Iterator[Item | Skip]:
        for i, row in enumerate(rows, start=offset):
            ref = f"{self.name}[{i}]"
            key = str(row[self.key_col]) if self.key_col and row.get(self.key_col) is not None else f"{self.text}#{i}"
            img = row.get(self.image_col)
            data, path = _image_payload(img)
            if data is None and path is None:
                yield Skip(ref, "no image in row")
                continue
            meta = {
                "caption": clean_caption(row.get(self.caption_col)) if self.caption_col else None,
                "url": clean_text(row.get(self.url_col), 8192) if self.url_col else None,
                "shard": f"{self.name}:{self.split}",
            }
            for k, v in row.items():
                if k in (self.image_col, self.caption_col, self.url_col, self.key_col):
                    continue
                if isinstance(v, (str, int, float, bool)) or v is None:
                    meta[f"x_{k}"] = clean_text(v, 2048) if isinstance(v, str) else v
            yield Item(key=key, ref=ref, meta=meta, image_bytes=data, image_path=path)


def _image_payload(img: Any) -> tuple[bytes | None, str | None]:
    if isinstance(img, dict):
        return img.get("bytes"), img.get("path") if not img.get("bytes") else None
    if isinstance(img, (bytes, bytearray)):
        return bytes(img), None
    if isinstance(img, str):
        return None, img
    if img is not None and hasattr(img, "save"):  # a decoded PIL image (non-Image feature types)
        import io

        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue(), None
    return None, None


def _guess_image_col(features) -> str | None:
    for name, feat in features.items():
        if type(feat).__name__ == "Image":
            return name
    for name in ("image", "img", "jpg", "png"):
        if name in features:
            return name
    return None


def _load(name: str, *, split: str, streaming: bool, config: str | None):
    import datasets

    from ..util.hub import quiet_hub

    datasets.disable_progress_bars()
    with quiet_hub():
        return _load_quietly(datasets, name, split=split, streaming=streaming, config=config)


def _load_quietly(datasets, name: str, *, split: str, streaming: bool, config: str | None):
    try:
        if os.path.isdir(name) and (os.path.exists(os.path.join(name, "dataset_info.json")) or os.path.exists(os.path.join(name, "state.json")) or os.path.exists(os.path.join(name, "dataset_dict.json"))):
            ds = datasets.load_from_disk(name)
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise UsageError(f"dataset folder {name} has splits {', '.join(ds)}, not {split!r}: choose one with --split")
                ds = ds[split]
            return ds.to_iterable_dataset() if streaming else ds
        ext = os.path.splitext(name)[1].lower()
        if os.path.isfile(name) and ext in DATA_FILE_BUILDERS:
            return datasets.load_dataset(DATA_FILE_BUILDERS[ext], data_files={split: name}, split=split, streaming=streaming)
        return datasets.load_dataset(name, config, split=split, streaming=streaming)
    except UsageError:
        raise
    except FileNotFoundError as exc:
        raise IngestError(f"Hugging Face dataset {name!r} not found ({_short(exc)}): give a hub name, a save_to_disk folder or data files") from None
    except ValueError as exc:
        raise IngestError(f"cannot load Hugging Face dataset {name!r}: {_short(exc)}") from None
    except Exception as exc:
        raise IngestError(
            f"cannot load Hugging Face dataset {name!r} ({type(exc).__name__}: {_short(exc)}). "
            "Offline? Use a local copy: a save_to_disk folder or parquet files."
        ) from None


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
