"""What sources yield: items to index, items skipped, and resumable units of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import numpy as np

# Metadata columns every index has; anything else a source provides is kept as an extra column.
BASE_COLUMNS = ("id", "key", "url", "caption", "source", "shard", "width", "height")
MAX_CAPTION_CHARS = 4096
TRUNCATED = " [truncated]"  # marks a caption cut at MAX_CAPTION_CHARS


@dataclass
class Item:
    """One training image (or its precomputed embedding) with its metadata."""

    key: str
    ref: str  # how to name it to a user: a path, "shard.tar:member", "file.npy#row 12"
    meta: dict[str, Any] = field(default_factory=dict)
    image_bytes: bytes | None = None
    image_path: str | None = None
    vector: np.ndarray | None = None


@dataclass
class Block:
    """Many precomputed items at once, column by column.

    The embeddings source yields these: at LAION scale, one Python object per row costs more
    than everything else ingest does. ``table`` holds the metadata columns under the names an
    :class:`Item`'s ``meta`` would use (``url``, ``caption``, ``shard``, ``x_<column>``), already
    cleaned; row ``j`` of ``table``, ``keys`` and ``vectors`` is one item.
    """

    keys: list[str]
    vectors: np.ndarray  # (n, dim) float32 unit vectors
    table: Any  # pyarrow.Table with n rows
    ref_prefix: str  # rows are named to users as "<ref_prefix>#<row>"
    rows: np.ndarray  # each item's row number in its file

    def __len__(self) -> int:
        return len(self.keys)

    def ref(self, j: int) -> str:
        return f"{self.ref_prefix}#{int(self.rows[j])}"

    def take(self, idx: np.ndarray) -> "Block":
        """The rows at positions ``idx`` (an int array), in that order."""
        keys = self.keys
        return Block([keys[i] for i in idx.tolist()], self.vectors[idx], self.table.take(idx), self.ref_prefix, self.rows[idx])

    def slice(self, start: int, stop: int | None = None) -> "Block":
        stop = len(self) if stop is None else min(stop, len(self))
        return Block(self.keys[start:stop], self.vectors[start:stop], self.table.slice(start, stop - start),
                     self.ref_prefix, self.rows[start:stop])


@dataclass
class Skip:
    """An input that could not be used, and why (reasons are short, stable phrases for counting)."""

    ref: str
    reason: str
    detail: str = ""
    count: int = 1  # a single skip may stand for several rows (e.g. a whole mismatched file)


@dataclass
class Unit:
    """A resumable piece of a source (a shard, an embeddings file, a folder)."""

    key: str
    open: Callable[[], Iterator[Item | Skip]]
    size_hint: int | None = None


class Source(Protocol):
    text: str  # canonical description recorded in the manifest
    format: str
    precomputed: bool  # True when items carry vectors instead of pixels

    def units(self) -> Iterator[Unit]: ...

    def count_hint(self) -> int | None: ...


def clean_caption(value: Any) -> str | None:
    """Captions as text: bytes decoded leniently, absurd lengths cut (the cut is marked)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value)
    if len(text) > MAX_CAPTION_CHARS:
        text = text[:MAX_CAPTION_CHARS] + TRUNCATED
    return text


def clean_text(value: Any, limit: int = 4096) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value)
    return text[:limit]
