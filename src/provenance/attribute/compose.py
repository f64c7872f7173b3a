"""Nearest-neighbour source composition of one traced query, with bootstrap intervals.

Share of class c = sum_i w_i * [label_i = c] / sum_i w_i over the k neighbours, with
w_i = max(cosine_i, 0): the similarity-weighted share of the neighbours' labels, the
same labels the trace table shows. The 95% interval is a percentile bootstrap that
resamples the neighbours with replacement (how much the share depends on which
neighbours happened to be retrieved). ``expected_share`` weighs the neighbours' label
probabilities instead of their labels: where it differs from ``share``, the labels
themselves are uncertain. These are shares of resemblance, not of influence.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

N_BOOTSTRAP = 1000
SEED = 20241125


def neighbour_probabilities(n, classes: Sequence[str]) -> np.ndarray | None:
    """A neighbour's probability vector over ``classes`` (None when it has neither probabilities nor a label)."""
    probs = getattr(n, "probabilities", None)
    if probs:
        v = np.array([float(probs.get(c, 0.0) or 0.0) for c in classes], dtype=np.float64)
        s = v.sum()
        if s > 0:
            return v / s
    label = getattr(n, "label", None)
    if label in classes:
        v = np.zeros(len(classes))
        v[list(classes).index(label)] = 1.0
        return v
    return None


def compose(neighbours: Sequence[Any], classes: Sequence[str], *, n_bootstrap: int = N_BOOTSTRAP, seed: int = SEED,
            label_missing: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """The composition dict of one trace result (see module doc). ``label_missing(neighbour)`` may fill in
    ``label`` / ``probabilities`` / ``selfie`` of neighbours the index stored no label for."""
    classes = list(classes)
    stored = 0
    filled = 0
    rows, weights, selfies, labels = [], [], [], []
    for n in neighbours:
        p = neighbour_probabilities(n, classes)
        if p is not None:
            stored += 1
        elif label_missing is not None:
            label_missing(n)
            p = neighbour_probabilities(n, classes)
            filled += p is not None
        if p is None:
            continue
        rows.append(p)
        weights.append(max(float(n.similarity), 0.0))
        selfies.append(1.0 if getattr(n, "selfie", None) else 0.0)
        labels.append(getattr(n, "label", None))
    out: dict[str, Any] = {
        "k": len(neighbours),
        "labelled": len(rows),
        "weighting": "similarity",
        "basis": "labels (expected_share: label probabilities)",
        "interval": "bootstrap 95%",
        "n_bootstrap": n_bootstrap,
        "labels_from": _labels_from(stored, filled),
    }
    if not rows:
        out["shares"] = {}
        out["note"] = "no neighbour has a source label: build the index with attribution (provenance index ...) to get shares"
        return out
    P = np.stack(rows)  # (m, C) label probabilities
    label_idx = np.array([classes.index(lab) if lab in classes else int(np.argmax(p)) for lab, p in zip(labels, rows)])
    H = np.eye(len(classes))[label_idx]  # (m, C) one-hot labels
    w = np.asarray(weights)
    if w.sum() <= 0:
        w = np.ones_like(w)  # all similarities <= 0 (e.g. text queries of an untrained model): weigh equally
        out["weighting"] = "equal (no positive similarity)"
    s = np.asarray(selfies)
    share = (w @ H) / w.sum()
    expected = (w @ P) / w.sum()
    lo, hi, s_lo, s_hi = _bootstrap(H, w, s, n_bootstrap, seed)
    counts = np.bincount(label_idx, minlength=len(classes))
    out["shares"] = {
        c: {"share": round(float(share[j]), 4), "low": round(float(min(lo[j], share[j])), 4),
            "high": round(float(max(hi[j], share[j])), 4), "count": int(counts[j]),
            "expected_share": round(float(expected[j]), 4)}
        for j, c in enumerate(classes)
    }
    _fix_rounding(out["shares"])
    selfie_share = float((w @ s) / w.sum())
    out["selfie"] = {"share": round(selfie_share, 4), "low": round(min(s_lo, selfie_share), 4),
                     "high": round(max(s_hi, selfie_share), 4), "count": int(s.sum())}
    return out


def _bootstrap(H: np.ndarray, w: np.ndarray, s: np.ndarray, n_boot: int, seed: int):
    m = H.shape[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, m, size=(n_boot, m))
    ww = w[idx]  # (n_boot, m)
    total = ww.sum(axis=1, keepdims=True)
    total[total <= 0] = 1.0
    shares = np.einsum("bm,bmc->bc", ww, H[idx]) / total  # (n_boot, C)
    lo, hi = np.percentile(shares, [2.5, 97.5], axis=0)
    sel = (ww * s[idx]).sum(axis=1) / total[:, 0]
    s_lo, s_hi = np.percentile(sel, [2.5, 97.5])
    return lo, hi, float(s_lo), float(s_hi)


def _fix_rounding(shares: dict[str, dict[str, float]]) -> None:
    # Rounded shares must still sum to 1: put the residue on the largest share (keeping low <= share <= high).
    total = sum(v["share"] for v in shares.values())
    if shares and abs(total - 1.0) > 1e-9:
        top = max(shares.values(), key=lambda v: v["share"])
        top["share"] = round(top["share"] + (1.0 - total), 4)
        top["low"] = min(top["low"], top["share"])
        top["high"] = max(top["high"], top["share"])


def _labels_from(stored: int, filled: int) -> str:
    if stored and filled:
        return "index (some neighbours labelled at trace time from URL and caption)"
    if filled:
        return "URL and caption, labelled at trace time (the index stores no source labels)"
    return "index"
