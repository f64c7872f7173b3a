"""Figures of a report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {"personal": "#e4572e", "stock": "#4c72b0", "commercial": "#f3a712", "editorial": "#29335c", "art": "#8e44ad",
           "other": "#a0a0a0", "unlabelled": "#dddddd"}
EXTRA = ("#17becf", "#bcbd22", "#7f7f7f", "#9467bd", "#8c564b")


def colour(label: str, classes: list[str]) -> str:
    if label in COLOURS:
        return COLOURS[label]
    extras = [c for c in classes if c not in COLOURS]
    return EXTRA[extras.index(label) % len(EXTRA)] if label in extras else "#cccccc"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def source_mix(groups: list[dict[str, Any]], classes: list[str], path: Path, title: str) -> None:
    """Stacked horizontal bars: mean nearest-neighbour source share per group."""
    plt = _plt()
    labels = [g["label"] for g in groups]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(groups) + 1.6))
    left = [0.0] * len(groups)
    for c in classes:
        vals = [g["shares"][c] for g in groups]
        if not any(vals):
            continue
        ax.barh(labels, vals, left=left, color=colour(c, classes), label=c, edgecolor="white", linewidth=0.5)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("mean share of the k nearest neighbours")
    ax.set_title(title, fontsize=10)
    ax.legend(ncol=min(4, len(classes)), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25 if len(groups) < 4 else -0.12))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def similarities(per_group: dict[str, list[float]], threshold: float, path: Path) -> None:
    """Top-1 cosine similarity per generation, by group, with the near-duplicate threshold."""
    plt = _plt()
    names = list(per_group)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.6))
    data = [per_group[n] or [float("nan")] for n in names]
    import matplotlib

    horizontal = {"orientation": "horizontal"} if tuple(map(int, matplotlib.__version__.split(".")[:2])) >= (3, 10) else {"vert": False}
    ax.boxplot(data, tick_labels=names, showfliers=True, **horizontal)
    for i, vals in enumerate(data, start=1):
        ax.scatter(vals, [i] * len(vals), s=10, alpha=0.6, color="#4c72b0", zorder=3)
    ax.axvline(threshold, color="#e4572e", linestyle="--", label=f"near-duplicate threshold {threshold:g}")
    _save(plt, fig, ax, path, "cosine similarity of the nearest training item", "lower left")


def near_duplicates(counts: dict[str, tuple[int, int]], path: Path) -> None:
    """Generations with a near-duplicate neighbour, per group (of n)."""
    plt = _plt()
    names = list(counts)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.4))
    ax.barh(names, [counts[n][1] for n in names], color="#eeeeee", label="generations")
    ax.barh(names, [counts[n][0] for n in names], color="#e4572e", label="with a near-duplicate neighbour")
    _save(plt, fig, ax, path, "generations", "lower right")


def _save(plt, fig, ax, path: Path, xlabel: str, legend_loc: str) -> None:
    """Groups top to bottom in table order, a legend, and a PNG written out."""
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8, loc=legend_loc)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
