"""The nearest-neighbour source composition of one traced generation.

When source attribution is installed, its composer's shares (similarity-weighted,
bootstrap intervals) are used as they are. Otherwise shares are the plain fraction
of the k neighbours carrying each label, with Wilson 95% intervals. Neighbours
without a label count as ``unlabelled``.
"""

from __future__ import annotations

from typing import Any, Iterable

from .stats import wilson_interval

CLASSES = ("personal", "stock", "commercial", "editorial", "art", "other")
UNLABELLED = "unlabelled"
METHOD_COMPOSER = "attribution composer (similarity-weighted shares, bootstrap 95% intervals)"
METHOD_COUNTS = "neighbour label counts (unweighted shares, Wilson 95% intervals)"


def from_record(record: dict[str, Any]) -> tuple[dict[str, dict[str, float]], str]:
    """``({label: {share, low, high, count}}, method)`` for one traced generation."""
    result = record.get("result") or {}
    comp = result.get("composition") or {}
    shares = comp.get("shares") if isinstance(comp, dict) else None
    if shares:
        return {str(k): {"share": float(v["share"]), "low": float(v["low"]), "high": float(v["high"]),
                         "count": int(v.get("count", 0))} for k, v in shares.items()}, METHOD_COMPOSER
    labels = [n.get("label") or UNLABELLED for n in result.get("neighbours", [])]
    n = len(labels)
    out = {}
    for label in dict.fromkeys(labels):
        c = labels.count(label)
        low, high = wilson_interval(c, n)
        out[label] = {"share": c / n, "low": low, "high": high, "count": c}
    return out, METHOD_COUNTS


def classes_for(compositions: Iterable[dict[str, Any]]) -> list[str]:
    """The taxonomy's classes first (always, zeros are findings too), then any other label seen."""
    seen: dict[str, None] = {}
    for comp in compositions:
        for k in comp:
            seen.setdefault(k)
    return list(CLASSES) + sorted(k for k in seen if k not in CLASSES)


def complete(comp: dict[str, dict[str, float]], classes: list[str], n_neighbours: int) -> dict[str, dict[str, float]]:
    """Every class present; a class no neighbour carries has share 0 (with an interval when k says something)."""
    high = wilson_interval(0, n_neighbours)[1] if n_neighbours else 0.0
    return {c: comp.get(c) or {"share": 0.0, "low": 0.0, "high": high, "count": 0} for c in classes}
