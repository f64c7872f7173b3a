"""Statistics of a study: per-generation shares, group means with bootstrap intervals, group differences.

Neighbours of one generation are not independent draws (they cluster around one
picture), so the tests that respect that unit are the ones on per-generation
shares (permutation tests that shuffle whole generations between groups). The
chi-square test on pooled neighbour label counts is given too, as the familiar
figure, with that caveat: it treats every neighbour as an independent
observation and so overstates significance.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

CONFIDENCE = 0.95
N_BOOTSTRAP = 2000
N_PERMUTATIONS = 2000


def wilson_interval(count: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy's binomtest)."""
    if n <= 0:
        return (math.nan, math.nan)
    from scipy.stats import binomtest

    ci = binomtest(int(count), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def bootstrap_mean(values: Sequence[float], rng: np.random.Generator, n_resamples: int = N_BOOTSTRAP,
                   confidence: float = CONFIDENCE) -> tuple[float, float | None, float | None]:
    """Mean and percentile-bootstrap interval over generations; no interval from fewer than two."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return math.nan, None, None
    mean = float(x.mean())
    if len(x) < 2:
        return mean, None, None
    if np.ptp(x) == 0:
        return mean, mean, mean
    from scipy.stats import bootstrap

    res = bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile", rng=rng)
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    # A percentile interval can miss the estimate by rounding in tiny samples; keep it honest and nested.
    return mean, min(low, mean), max(high, mean)


def between_group_ss(x: np.ndarray, codes: np.ndarray, n_groups: int) -> float:
    """Sum over groups of n_g * |mean_g - grand mean|^2 (summed over the columns of ``x``)."""
    sizes = np.bincount(codes, minlength=n_groups).astype(float)
    sums = np.stack([np.bincount(codes, weights=x[:, j], minlength=n_groups) for j in range(x.shape[1])], axis=1)
    means = sums / np.maximum(sizes, 1)[:, None]
    grand = x.mean(axis=0)
    return float((sizes[:, None] * (means - grand) ** 2).sum())


def permutation_test(x: np.ndarray, codes: np.ndarray, rng: np.random.Generator, n_resamples: int = N_PERMUTATIONS) -> tuple[float, float]:
    """Do groups differ in the mean of ``x`` (n, c)? Shuffles generations between groups.

    Returns (statistic, p-value) with the add-one correction, so p is never 0.
    """
    x = np.asarray(x, dtype=float).reshape(len(codes), -1)
    n_groups = int(codes.max()) + 1
    observed = between_group_ss(x, codes, n_groups)
    tol = 1e-12 * max(1.0, abs(observed))
    hits = sum(between_group_ss(x, rng.permutation(codes), n_groups) >= observed - tol for _ in range(n_resamples))
    return observed, (hits + 1) / (n_resamples + 1)


def chi_square(counts: np.ndarray) -> dict[str, Any] | None:
    """Chi-square test of independence on a groups x labels table of neighbour counts."""
    from scipy.stats import chi2_contingency

    table = np.asarray(counts, dtype=float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None
    res = chi2_contingency(table)
    return {"statistic": float(res.statistic), "p_value": float(res.pvalue), "dof": int(res.dof),
            "min_expected": float(res.expected_freq.min())}


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """False-discovery-rate adjusted p-values (scipy), ignoring missing ones."""
    from scipy.stats import false_discovery_control

    idx = [i for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    out: list[float | None] = [None] * len(p_values)
    if idx:
        adj = false_discovery_control([p_values[i] for i in idx], method="bh")
        for i, a in zip(idx, np.atleast_1d(adj)):
            out[i] = float(a)
    return out
