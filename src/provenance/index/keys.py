"""Compact sets of item keys, so appends and resumes skip what is already indexed.

Keys are hashed to 64 bits (a sorted numpy array costs 8 bytes per item even at
LAION scale; a Python set of strings would cost ~100).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import numpy as np

from .layout import PARTS_DIR


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little", signed=True)


class KeySet:
    def __init__(self, hashes: np.ndarray | None = None):
        self._sorted = np.sort(hashes) if hashes is not None and len(hashes) else np.zeros(0, np.int64)

    @classmethod
    def from_parts(cls, directory: Path, parts: Iterable[dict]) -> "KeySet":
        import pyarrow.parquet as pq

        chunks = []
        for p in parts:
            col = pq.read_table(directory / PARTS_DIR / f"{p['name']}.parquet", columns=["key"]).column("key")
            chunks.append(np.fromiter((key_hash(k) for k in col.to_pylist()), dtype=np.int64, count=len(col)))
        return cls(np.concatenate(chunks) if chunks else None)

    def __contains__(self, h: int) -> bool:
        a = self._sorted
        if not len(a):
            return False
        i = np.searchsorted(a, h)
        return bool(i < len(a) and a[i] == h)

    def __len__(self) -> int:
        return len(self._sorted)
