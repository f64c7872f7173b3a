"""Choosing, training and tuning the FAISS index for a given number of vectors.

Vectors are L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import numpy as np

EXACT_MAX = 100_000  # below this, exact search is fast enough and loses nothing


@dataclass
class IndexPlan:
    factory: str
    nprobe: int | None = None
    train_size: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def choose_plan(n: int, dim: int, *, factory: str | None = None, memory_budget: int | None = None) -> IndexPlan:
    """The index for ``n`` vectors of ``dim``: exact up to :data:`EXACT_MAX`, IVF beyond."""
    if factory:
        return IndexPlan(factory=factory, train_size=_train_size(factory, n), notes=["factory given by user"])
    if n <= EXACT_MAX:
        return IndexPlan(factory="Flat", notes=[f"{n} vectors <= {EXACT_MAX}: exact inner-product search"])
    nlist = _nlist(n)
    raw = n * dim * 4
    codec = "Flat" if memory_budget is not None and raw <= memory_budget else "SQ8"
    fac = f"IVF{nlist},{codec}"
    return IndexPlan(factory=fac, nprobe=max(1, nlist // 64), train_size=_train_size(fac, n),
                     notes=[f"{n} vectors: inverted lists ({nlist}), {codec} codes"])


def _nlist(n: int) -> int:
    target = 4 * math.sqrt(n)
    return int(min(65536, max(64, 2 ** round(math.log2(target)))))


def _train_size(factory: str, n: int) -> int:
    if not factory.startswith(("IVF", "OPQ", "PQ")) and "IVF" not in factory:
        return 0
    nlist = 256
    for tok in factory.replace(",", " ").replace("_", " ").split():
        if tok.startswith("IVF"):
            digits = "".join(ch for ch in tok[3:] if ch.isdigit())
            nlist = int(digits) if digits else nlist
    return int(min(n, max(39 * nlist, 65_536)))


def new_index(plan: IndexPlan, dim: int):
    import faiss

    return faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT)


def train_and_fill(
    plan: IndexPlan,
    dim: int,
    sample: Callable[[int], np.ndarray],
    batches: Iterable[np.ndarray],
    index=None,
    progress: Callable[[int], None] | None = None,
):
    """Train (when needed) on ``sample(plan.train_size)`` then add ``batches`` in order.

    Ids are positional: the i-th vector added gets id ``index.ntotal`` at that time.
    """
    import faiss

    if index is None:
        index = new_index(plan, dim)
        if not index.is_trained:
            index.train(np.ascontiguousarray(sample(plan.train_size), dtype=np.float32))
    for b in batches:
        index.add(np.ascontiguousarray(b, dtype=np.float32))
        if progress:
            progress(len(b))
    if plan.nprobe:
        set_search_params(index, nprobe=plan.nprobe)
    faiss.omp_set_num_threads(faiss.omp_get_max_threads())
    return index


def set_search_params(index, nprobe: int | None = None) -> None:
    import faiss

    if nprobe:
        try:
            faiss.ParameterSpace().set_index_parameter(index, "nprobe", int(nprobe))
        except RuntimeError:
            pass  # not an IVF index
