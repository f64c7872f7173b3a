"""Share index-build labelling with helper processes.

Labelling is pure Python (about 15k rows/s on one core), so for builds from precomputed
embeddings it is most of the ingest time. A build's labeler labels part of every large
part itself and hands the rest to worker processes (the GIL rules out threads), which
rebuild the same classifier from its taxonomy and model files. Small builds never start
a worker: spawning one costs about a second.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping

from .classifier import SourceClassifier, field_names
from .learned import builtin_model_path

START_AFTER_ROWS = 50_000  # rows (this batch included) before a pool is worth starting (~1 s)
MIN_SPLIT_ROWS = 512  # parts smaller than this are labelled in-process
IMAGE_KEYS = ("img_selfie_framing", "img_faces", "img_watermark")


def default_workers() -> int:
    """Helper processes: one per core beyond the first (the builder's own process labels a share too)."""
    return max(0, min(7, (os.cpu_count() or 1) - 1))


def classifier_recipe(clf: SourceClassifier) -> tuple[str | None, Any] | None:
    """(taxonomy file, learned-model argument) that rebuild ``clf`` in another process, or None when
    it cannot be rebuilt from files (a taxonomy or model made in memory)."""
    sources = clf.tax.sources
    if sources != ["builtin"] and not (sources and os.path.isfile(str(sources[-1]))):
        return None
    if clf.model is not None and clf.model.source == "memory":
        return None
    taxonomy = None if sources == ["builtin"] else str(sources[-1])
    learned = False if clf.model is None else (None if clf.model.source == str(builtin_model_path()) else clf.model.source)
    return taxonomy, learned


_worker: SourceClassifier | None = None


def _init(taxonomy: str | None, learned: Any) -> None:
    import signal

    global _worker
    # Ctrl-C is the parent's to handle (it stops the pool and says how to resume); a worker
    # dying of it would only print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = SourceClassifier(taxonomy, learned=learned)
    # Load what the first row would (the public-suffix list, lazily compiled patterns) before any
    # batch arrives: a worker's timed first batch would otherwise carry it, and the pool would
    # give the workers too small a share for the next few batches.
    label_slim(_worker, [("https://www.example.com/photos/a-b.jpg?x=1", "a photo, $5 #tag", None, None)])


def label_slim(clf: SourceClassifier, rows: list[tuple]) -> list[tuple]:
    """Field values (:meth:`Attribution.values`) for rows given as (url, caption, signals, zero_shot)
    tuples. Tuples, not dicts: they cross process boundaries, and the builder wants columns."""
    values = clf.values
    return [values(u, c, s, s, z) for u, c, s, z in rows]


def spawn_workers(n: int, recipe: tuple[str | None, Any]):
    """``n`` worker processes, each holding the classifier ``recipe`` rebuilds (see :func:`worker`)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn: workers start clean, whatever threads (pyarrow, torch, FAISS) this process runs
    return ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"), initializer=_init, initargs=recipe)


def worker() -> SourceClassifier:
    """The classifier of this worker process."""
    assert _worker is not None, "not a worker started by spawn_workers()"
    return _worker


def _work(rows: list[tuple]) -> tuple[list[tuple], float]:
    t0 = time.perf_counter()
    out = label_slim(worker(), rows)
    return out, time.perf_counter() - t0


def _ema(old: float | None, new: float, weight: float = 0.5) -> float:
    return new if old is None else old + weight * (new - old)


class LabelPool:
    """Lazily started worker processes labelling a share of each large batch of index rows."""

    def __init__(self, clf: SourceClassifier, workers: int | None = None):
        self.clf = clf
        self.workers = default_workers() if workers is None else max(0, int(workers))
        self.recipe = classifier_recipe(clf) if self.workers else None
        self.columns = set(clf.tax.columns)
        self.names = field_names(clf.classes)  # of the value tuples labelling gives
        self.seen = 0
        self.started = False  # whether workers ever ran (for tests and reports)
        self._pool = None
        self.share = 1.0 / (self.workers + 1)  # of each batch, labelled in this process
        self._mine_cost: float | None = None  # seconds per row, here (smoothed)
        self._worker_cost: float | None = None  # seconds per row, in a worker (smoothed)
        self._other: float | None = None  # seconds per batch the caller spends on other work (smoothed)
        self._last_submit: float | None = None
        self._mine_seconds = 0.0  # this process's labelling and waiting for workers since the last submit

    @property
    def active(self) -> bool:
        return self._pool is not None

    def slim(self, row: Mapping[str, Any], zero_shot: Mapping[str, float] | None) -> tuple:
        """What classify() reads of an index row: URL, caption, the taxonomy's columns, image cues."""
        signals = {k: v for k, v in row.items() if v is not None and self._is_signal(k)}
        return row.get("url"), row.get("caption"), signals or None, zero_shot

    def _is_signal(self, column: str) -> bool:
        """Whether classify() reads this column: an image cue, or a metadata column of the taxonomy."""
        return column in IMAGE_KEYS or column.lower() in self.columns

    def slim_table(self, table, zero_shot: list | None) -> list[tuple]:
        """:meth:`slim` of every row of an Arrow table, read column by column."""
        n, names = table.num_rows, table.column_names
        urls = table.column("url").to_pylist() if "url" in names else [None] * n
        caps = table.column("caption").to_pylist() if "caption" in names else [None] * n
        keys = [c for c in names if self._is_signal(c)]
        if keys:
            cols = [table.column(c).to_pylist() for c in keys]
            signals = [{k: v for k, v in zip(keys, vals) if v is not None} or None for vals in zip(*cols)]
        else:
            signals = [None] * n
        return list(zip(urls, caps, signals, zero_shot or [None] * n))

    def label(self, rows: list[dict[str, Any]], zero_shot: list | None) -> list[dict[str, Any]]:
        """Fields per row, in order."""
        names = self.names
        return [dict(zip(names, v)) for v in self.submit(rows, zero_shot)()]

    def submit(self, rows: list[dict[str, Any]], zero_shot: list | None) -> Callable[[], list[tuple]]:
        """Start labelling ``rows``; the returned function gives their field values (named by
        :attr:`names`), in order."""
        return self.submit_slim([self.slim(r, zero_shot[i] if zero_shot else None) for i, r in enumerate(rows)])

    def submit_slim(self, slim: list[tuple]) -> Callable[[], list[tuple]]:
        """Start labelling rows given as :meth:`slim` tuples; the returned function gives their field values.

        The workers' shares start at once; this process labels its own share when the result is
        asked for. A caller that submits the next batch before asking for this one's result (the
        index builder does) keeps the workers busy while it writes and reads. The share is
        re-balanced at every batch so that neither side waits for the other.
        """
        n = len(slim)
        self.seen += n
        if self.recipe is None or n < MIN_SPLIT_ROWS or (self._pool is None and self.seen < START_AFTER_ROWS):
            out = label_slim(self.clf, slim)
            return lambda: out
        pool = self._start()
        self._rebalance(n)
        mine = min(n - 1, max(1, round(n * self.share)))
        step = -(-(n - mine) // self.workers)
        try:
            futures = [pool.submit(_work, slim[i:i + step]) for i in range(mine, n, step)]
        except Exception as exc:  # the pool broke since the last batch
            self._give_up(exc)
            out = label_slim(self.clf, slim)
            return lambda: out

        def result() -> list[tuple]:
            t0 = time.perf_counter()
            out = label_slim(self.clf, slim[:mine])
            t1 = time.perf_counter()
            self._mine_seconds += t1 - t0
            self._mine_cost = _ema(self._mine_cost, (t1 - t0) / mine)
            costs = []
            for k, f in enumerate(futures):
                try:
                    part, seconds = f.result()
                except Exception as exc:  # a worker that cannot start or died: never lose the rows
                    self._give_up(exc)
                    part, seconds = label_slim(self.clf, slim[mine + k * step:mine + (k + 1) * step]), 0.0
                out.extend(part)
                costs.append(seconds / max(1, len(part)))
            self._mine_seconds += time.perf_counter() - t1  # waiting for workers is not the caller's own work
            self._worker_cost = _ema(self._worker_cost, max(costs))
            return out

        return result

    def _rebalance(self, n: int) -> None:
        """This process's share of the next batch: per batch, its own labelling plus everything else the
        caller does between two batches should take as long as a worker's labelling of its share."""
        now = time.perf_counter()
        if self._last_submit is not None:
            # the caller's own work in the last cycle: the cycle less this process's labelling in it
            self._other = _ema(self._other, max(0.0, now - self._last_submit - self._mine_seconds))
        self._last_submit, self._mine_seconds = now, 0.0
        mine, theirs, other = self._mine_cost, self._worker_cost, self._other
        if mine is None or theirs is None or other is None:
            return
        w = self.workers
        share = (n * theirs / w - other) / (n * (mine + theirs / w))
        self.share = min(0.9, max(0.02, share))

    def _give_up(self, exc: BaseException) -> None:
        """Label in this process from now on, and say why once."""
        if self.recipe is not None:
            import warnings

            warnings.warn(
                f"source-labelling worker processes failed ({type(exc).__name__}: {exc}); labelling continues in this "
                "process. In a script, call build_index under `if __name__ == \"__main__\":` (worker processes import "
                "the main module), or pass workers=0 / --label-workers 0.", RuntimeWarning, stacklevel=2)
        self.recipe = None
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)  # futures already handed out finish, or fail like the broken pool's

    def _start(self):
        if self._pool is None:
            self._pool = spawn_workers(self.workers, self.recipe)
            self.started = True
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
