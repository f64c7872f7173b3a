"""Pick the ingest source for a ``--from`` argument."""

from __future__ import annotations

import os

from ..errors import UsageError

FORMATS = ("auto", "images", "webdataset", "embeddings", "hf")


def detect_format(source: str) -> str:
    if source.startswith("hf:"):
        return "hf"
    if "://" in source:
        if source.rstrip("/").endswith((".tar", ".tar}")) or "{" in source:
            return "webdataset"
        from .embeddings import looks_like_embeddings

        try:
            if looks_like_embeddings(source):
                return "embeddings"
        except Exception:
            pass
        raise UsageError(f"cannot tell the format of {source!r}: pass --format webdataset|embeddings|hf")
    if "{" in source and "}" in source or source.endswith(".tar") or any(ch in source for ch in "*?["):
        return "webdataset"
    if os.path.isdir(source):
        if os.path.isdir(os.path.join(source, "img_emb")):
            return "embeddings"
        if any(os.path.exists(os.path.join(source, f)) for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
            return "hf"
        names = os.listdir(source)
        if names and any(n.endswith(".tar") for n in names) and not any(os.path.isdir(os.path.join(source, n)) for n in names):
            return "webdataset"
        return "images"
    if os.path.isfile(source):
        if source.endswith((".parquet", ".arrow", ".jsonl", ".json", ".csv")):
            return "hf"
        raise UsageError(f"{source} is a single file of unknown kind: give a folder, .tar shards, an embeddings folder, or a dataset")
    if os.path.exists(source):
        raise UsageError(f"cannot read {source}")
    # "org/name" that is not a local path: a hub dataset.
    if source.count("/") == 1 and not source.startswith((".", "/")):
        return "hf"
    raise UsageError(f"source {source!r} does not exist: give an image folder, .tar shards, an embeddings folder or a dataset name")


def open_source(source: str, fmt: str = "auto", *, dim: int | None = None, **hf_options):
    """The ingest source object for ``source``."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(source)
    if fmt == "images":
        from .folder import FolderSource

        return FolderSource(source)
    if fmt == "webdataset":
        from .webdataset_source import WebDatasetSource

        return WebDatasetSource(source)
    if fmt == "embeddings":
        from .embeddings import EmbeddingsSource

        return EmbeddingsSource(source, dim=dim)
    from .hf import HFSource

    return HFSource(source, **{k: v for k, v in hf_options.items() if v is not None})
