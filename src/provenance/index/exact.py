"""Exact similarity over the stored float32 vectors: re-ranking and ground truth.

Compressed indexes (PQ codes) only shortlist candidates; their scores are
approximate. The index's parts keep every vector in full precision on disk,
memory-mapped, so the shortlist is re-scored exactly without holding the
vectors in RAM: only the pages of the candidates are touched.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import OrderedDict
from itertools import repeat
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


READ_CHUNK = 4096  # rows a reading thread takes at a time; gathers of two chunks or more use every core


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class StoredVectors:
    """Vectors by id across an index's parts, read with ``pread`` from the ``.npy`` files.

    Reads go through the page cache but map nothing into the process: with
    memory maps, scattered reads fault in neighbouring pages too, and a long
    search session (or tuning, which reads hundreds of thousands of rows) grew
    the process's RSS towards the size of all vectors (500 single queries at 1M
    mapped 1.3 GB). Per row, ``pread`` costs about what a page fault on a cold map does.
    """

    MAX_OPEN = 256  # file descriptors kept open (indexes with small parts have thousands)

    def __init__(self, reader):
        self.reader = reader
        self.first = np.array([int(p["first_id"]) for p in reader.parts], dtype=np.int64)
        self.counts = np.array([int(p["count"]) for p in reader.parts], dtype=np.int64)
        # Per part: its open descriptor (-1 when closed) and where its rows start, as arrays so that
        # a whole shortlist is located with a few numpy operations rather than per row in Python.
        self._fd = np.full(len(self.first), -1, dtype=np.int64)
        self._base = np.zeros(len(self.first), dtype=np.int64)
        self._open: OrderedDict[int, int] = OrderedDict()  # part -> fd, by opening order
        self._row = 0  # bytes per row, the same in every part (checked on opening)
        self._dtype: np.dtype | None = None
        self.dim: int | None = None

    def _file(self, i: int) -> None:
        """Open part ``i`` (the least recently opened is closed beyond :attr:`MAX_OPEN`)."""
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
        if self._dtype is not None and (dt != self._dtype or int(shape[1]) != self.dim):
            raise ValueError(f"{path} holds {dt} rows of {shape[1]}, other parts {self._dtype} rows of {self.dim}")
        self._dtype, self.dim, self._row = dt, int(shape[1]), int(shape[1]) * dt.itemsize
        self._open[i] = self._fd[i] = os.open(path, os.O_RDONLY)
        self._base[i] = offset
        if len(self._open) > self.MAX_OPEN:
            old, fd = self._open.popitem(last=False)
            self._fd[old] = -1
            os.close(fd)

    def gather(self, ids: np.ndarray) -> np.ndarray:
        """Rows for ``ids`` (all valid), in the given order, as float32."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        n = len(ids)
        if n == 0:
            return np.zeros((0, self.dim or 0), np.float32)
        part = np.searchsorted(self.first, ids, side="right") - 1
        offset = ids - self.first[part]
        if part.min() < 0 or (offset >= self.counts[part]).any():
            raise IndexError("vector id out of range")
        fds = self._fd[part]
        if fds.min() < 0:
            for p in np.unique(part[fds < 0]).tolist():
                self._file(p)
            fds = self._fd[part]
            if fds.min() < 0:  # more parts than MAX_OPEN at once: a group of parts at a time
                return self._gather_by_groups(part, offset)
        # One pread per row and nothing else per row in Python: a pread of a cached row costs
        # ~1.3 us on the AMD VM, and the interpreter loop around it had cost as much again.
        pos = self._base[part] + offset * self._row
        if n >= 2 * READ_CHUNK and _cores() > 1:
            return self._read_in_threads(fds.tolist(), pos.tolist()).astype(np.float32, copy=False)
        return self._rows(self._read(fds.tolist(), pos.tolist())).astype(np.float32, copy=False)

    def _read(self, fds: list[int], pos: list[int]) -> bytes:
        data = b"".join(map(os.pread, fds, repeat(self._row, len(fds)), pos))
        if len(data) != len(fds) * self._row:
            raise OSError(f"short read from the vectors of {self.reader.directory} (a part was truncated?)")
        return data

    def _rows(self, data: bytes) -> np.ndarray:
        return np.frombuffer(data, dtype=self._dtype).reshape(-1, self.dim)

    def _read_in_threads(self, fds: list[int], pos: list[int]) -> np.ndarray:
        """Long gathers (a batch's shortlists) on every core: the time goes to the kernel's page-cache
        reads, which release the GIL. Chunks are taken in turn, so a thread that gets no CPU (another
        process holds the core) leaves its share to the others."""
        n = len(fds)
        out = np.empty((n, self.dim or 0), dtype=self._dtype)
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for s in range(0, n, READ_CHUNK):
            todo.put(s)
        failed: list[BaseException] = []

        def work() -> None:
            try:
                while not failed:
                    try:
                        s = todo.get_nowait()
                    except queue.Empty:
                        return
                    e = min(s + READ_CHUNK, n)
                    out[s:e] = self._rows(self._read(fds[s:e], pos[s:e]))
            except BaseException as exc:  # re-raised in the caller
                failed.append(exc)

        helpers = [threading.Thread(target=work, name="gather", daemon=True)
                   for _ in range(min(_cores(), -(-n // READ_CHUNK)) - 1)]
        for t in helpers:
            t.start()
        work()
        for t in helpers:
            t.join()
        if failed:
            raise failed[0]
        return out

    def _gather_by_groups(self, part: np.ndarray, offset: np.ndarray) -> np.ndarray:
        out = np.empty((len(part), self.dim or 0), np.float32)
        distinct = np.unique(part)
        group = self.MAX_OPEN // 2
        for g in range(0, len(distinct), group):
            sel = np.isin(part, distinct[g : g + group])
            out[sel] = self.gather(self.first[part[sel]] + offset[sel])
        return out

    def close(self) -> None:
        while self._open:
            i, fd = self._open.popitem()
            self._fd[i] = -1
            os.close(fd)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


RERANK_READ = 65_536  # candidate rows read per round at most (128 MB at 512-d)


def rerank(queries: np.ndarray, candidates: np.ndarray, store: StoredVectors, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` (scores, ids) among each query's candidate ids (-1 = none), best first.

    A batch reads an id shared by several of its queries once (queries from one
    neighbourhood share most of their shortlists: 65% of the bench's 500 do) and
    FAISS scores each query against its rows where they lie, without copying them
    per query; a single query's candidates are distinct (FAISS lists hold each id
    once), so it reads them as they come, without sorting.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    cand = np.ascontiguousarray(candidates, dtype=np.int64)
    n, kc = cand.shape
    kk = min(k, kc)
    scores_out = np.full((n, k), -np.inf, dtype=np.float32)
    ids_out = np.full((n, k), -1, dtype=np.int64)
    if n == 0 or kk == 0:
        return scores_out, ids_out
    step = max(1, RERANK_READ // kc)
    for r in range(0, n, step):
        c, qr = cand[r : r + step], q[r : r + step]
        missing = c.min() < 0
        if len(c) == 1 and not missing:
            scores = (store.gather(c[0]) @ qr[0])[None]
        else:
            scores = _scores_by_id(qr, c, store)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
        rows = np.arange(len(c))[:, None]
        sc = scores[rows, top]
        scores_out[r : r + len(c), :kk] = sc
        ids_out[r : r + len(c), :kk] = np.where(np.isfinite(sc), c[rows, top], -1) if missing else c[rows, top]
    return scores_out, ids_out


def _scores_by_id(q: np.ndarray, cand: np.ndarray, store: StoredVectors) -> np.ndarray:
    """Inner products of each query with its candidates' rows (-inf for -1), each distinct row read once."""
    import faiss

    from .faiss_plan import on_threads

    uniq, inverse = np.unique(cand, return_inverse=True)
    missing = int(uniq[0] < 0)  # -1 sorts first
    vecs = np.ascontiguousarray(store.gather(uniq[missing:]))
    where = np.ascontiguousarray(inverse.reshape(cand.shape) - missing, dtype=np.int64)  # -1 stays -1: -inf
    scores = np.empty(cand.shape, dtype=np.float32)
    if not len(vecs):
        scores.fill(-np.inf)
        return scores
    sp = faiss.swig_ptr
    on_threads(len(q), faiss.fvec_inner_products_by_idx, sp(scores), sp(q), sp(vecs), sp(where), q.shape[1], len(q),
               cand.shape[1])
    return scores


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
