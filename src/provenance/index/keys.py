"""Compact sets of item keys, so appends and resumes skip what is already indexed.

Keys are hashed to 64 bits (a sorted numpy array costs 8 bytes per item even at
LAION scale; a Python set of strings would cost ~100). The hashes live only inside one
process (a resume or an append re-hashes the stored keys), so Python's own string hash,
salted per process, serves: it is computed in C and cached on the string, ~20x cheaper
than a cryptographic digest per key, which mattered at millions of keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from .layout import PARTS_DIR


def key_hash(key: str) -> int:
    return hash(key)


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

    @classmethod
    def union(cls, sets: Iterable["KeySet"]) -> "KeySet":
        arrays = [s._sorted for s in sets if len(s._sorted)]
        return cls(np.concatenate(arrays) if arrays else None)

    def __contains__(self, h: int) -> bool:
        a = self._sorted
        if not len(a):
            return False
        i = np.searchsorted(a, h)
        return bool(i < len(a) and a[i] == h)

    def contains_many(self, hashes: np.ndarray) -> np.ndarray:
        """Membership of each of ``hashes`` (int64), as a bool array."""
        a = self._sorted
        if not len(a):
            return np.zeros(len(hashes), bool)
        i = np.minimum(np.searchsorted(a, hashes), len(a) - 1)
        return a[i] == hashes

    def __len__(self) -> int:
        return len(self._sorted)
