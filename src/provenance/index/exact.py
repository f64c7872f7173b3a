"""Exact similarity over the stored float32 vectors: re-ranking and ground truth.

Compressed indexes (PQ codes) only shortlist candidates; their scores are
approximate. The index's parts keep every vector in full precision on disk,
memory-mapped, so the shortlist is re-scored exactly without holding the
vectors in RAM: only the pages of the candidates are touched.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Iterable

import numpy as np


def open_part(reader, name: str) -> np.ndarray:
    """A part's vectors memory-mapped for random row access (no readahead), as a plain ndarray view.

    Reads of scattered rows with default readahead would pull ~100 KB per row
    into the page cache and the process's RSS; indexing np.memmap subclasses
    is also several times slower than a plain view.
    """
    import mmap

    from .layout import PARTS_DIR

    arr = np.load(reader.directory / PARTS_DIR / f"{name}.npy", mmap_mode="r", allow_pickle=False)
    handle = getattr(arr, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_RANDOM"):
        handle.madvise(mmap.MADV_RANDOM)
    return arr.view(np.ndarray)


def read_rows(reader, name: str, offsets: np.ndarray) -> np.ndarray:
    """Rows ``offsets`` of part ``name`` as float32, through a map dropped right after."""
    arr = open_part(reader, name)
    out = np.asarray(arr[offsets], dtype=np.float32)
    del arr
    return out


class StoredVectors:
    """Vectors by id across an index's parts, read with ``pread`` from the ``.npy`` files.

    Reads go through the page cache but map nothing into the process: with
    memory maps, scattered reads fault in neighbouring pages too, and a long
    search session (or tuning, which reads hundreds of thousands of rows) grew
    the process's RSS towards the size of all vectors. Per row, ``pread`` costs
    about what a page fault on a cold map does.
    """

    MAX_OPEN = 256  # file descriptors kept open (indexes with small parts have thousands)

    def __init__(self, reader):
        self.reader = reader
        self.first = np.array([int(p["first_id"]) for p in reader.parts], dtype=np.int64)
        self.counts = np.array([int(p["count"]) for p in reader.parts], dtype=np.int64)
        self._open: OrderedDict[int, tuple[int, int, int, np.dtype]] = OrderedDict()  # by opening order
        self.dim: int | None = None

    def _file(self, i: int) -> tuple[int, int, int, np.dtype]:
        """(fd, data offset, bytes per row, dtype) of part ``i``, opening it (least recently opened closed first)."""
        from .layout import PARTS_DIR

        path = self.reader.directory / PARTS_DIR / f"{self.reader.parts[i]['name']}.npy"
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            offset = f.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path} is not a row-major vector matrix")
        dt = np.dtype(dtype)
        entry = (os.open(path, os.O_RDONLY), offset, int(shape[1]) * dt.itemsize, dt)
        self.dim = int(shape[1])
        self._open[i] = entry
        if len(self._open) > self.MAX_OPEN:
            _, old = self._open.popitem(last=False)
            os.close(old[0])
        return entry

    def gather(self, ids: np.ndarray) -> np.ndarray:
        """Rows for ``ids`` (all valid), in the given order, as float32."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if len(ids) == 0:
            return np.zeros((0, self.dim or 0), np.float32)
        part = np.searchsorted(self.first, ids, side="right") - 1
        if part.min() < 0 or np.any(ids - self.first[part] >= self.counts[part]):
            raise IndexError("vector id out of range")
        offset = (ids - self.first[part]).tolist()
        pread, opened = os.pread, self._open
        chunks, dtype = [], None
        for p, o in zip(part.tolist(), offset):
            fd, base, row, dtype = opened.get(p) or self._file(p)
            chunks.append(pread(fd, row, base + o * row))
        return np.frombuffer(b"".join(chunks), dtype=dtype).reshape(len(ids), -1).astype(np.float32, copy=False)

    def close(self) -> None:
        while self._open:
            os.close(self._open.popitem()[1][0])

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def rerank(queries: np.ndarray, candidates: np.ndarray, store: StoredVectors, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` (scores, ids) among each query's candidate ids (-1 = none), best first."""
    q = np.asarray(queries, dtype=np.float32)
    n, kc = candidates.shape
    scores_out = np.full((n, k), -np.inf, dtype=np.float32)
    ids_out = np.full((n, k), -1, dtype=np.int64)
    step = max(1, 65_536 // max(kc, 1))  # bound the gathered block to ~65k vectors
    for s in range(0, n, step):
        cand = candidates[s : s + step]
        valid = cand >= 0
        uniq, inverse = np.unique(cand[valid], return_inverse=True)
        vecs = store.gather(uniq)
        scores = np.full(cand.shape, -np.inf, dtype=np.float32)
        rows = np.nonzero(valid)[0]
        scores[valid] = np.einsum("ij,ij->i", vecs[inverse], q[s : s + step][rows])
        kk = min(k, kc)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
        sc = np.take_along_axis(scores, top, axis=1)
        ids = np.take_along_axis(cand, top, axis=1)
        ids = np.where(np.isfinite(sc), ids, -1)
        scores_out[s : s + step, :kk] = sc
        ids_out[s : s + step, :kk] = ids
    return scores_out, ids_out


def exact_knn(
    queries: np.ndarray, batches: Iterable[np.ndarray], k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-``k`` inner products over vectors streamed in id order.

    ``exclude`` (one id per query, or -1) drops a query's own row, for queries
    drawn from the indexed vectors themselves. Ids are -1 (scores -inf) where fewer
    than ``k`` vectors exist. FAISS's blocked search and heaps do the work: on all
    cores, about 3x faster than numpy's single-threaded partial sorts.
    """
    import faiss

    q = np.ascontiguousarray(queries, dtype=np.float32)
    n = len(q)
    kk = k + (1 if exclude is not None else 0)
    heap = faiss.ResultHeap(n, kk, keep_max=True)
    base = 0
    for b in batches:
        b = np.ascontiguousarray(b, dtype=np.float32)
        if not len(b):
            continue
        d, i = faiss.knn(q, b, min(kk, len(b)), metric=faiss.METRIC_INNER_PRODUCT)
        heap.add_result(d, np.where(i >= 0, i + base, -1))
        base += len(b)
    heap.finalize()
    scores, ids = heap.D, heap.I
    if exclude is not None:
        own = np.asarray(exclude, dtype=np.int64).reshape(-1, 1)
        # drop the query's own id where found, else the last (k+1-th) candidate
        hit = (ids == own) & (own >= 0)
        drop = np.where(hit.any(axis=1, keepdims=True), hit, np.arange(kk) == kk - 1)
        keep = ~drop
        keep &= np.cumsum(keep, axis=1) <= k
        scores, ids = scores[keep].reshape(n, k), ids[keep].reshape(n, k)
    missing = ids < 0
    return np.where(missing, -np.inf, scores).astype(np.float32), np.where(missing, -1, ids)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean share of the true top-``k`` ids found in each row of ``found`` (its first ``k`` columns)."""
    hits = total = 0
    for f, t in zip(found, truth):
        t = set(int(i) for i in t[:k] if i >= 0)
        hits += len(t & set(int(i) for i in f[:k]))
        total += len(t)
    return hits / total if total else 1.0
