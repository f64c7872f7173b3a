"""Accuracy, macro-F1, per-class precision / recall / F1 and the confusion matrix of source labels."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence


def scores(truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    """Metrics of ``predicted`` against ``truth``. Macro-F1 averages over the classes present in ``truth``."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    labels = list(classes) + sorted({*truth, *predicted} - set(classes))
    idx = {c: i for i, c in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted):
        matrix[idx[t]][idx[p]] += 1
    per_class = {}
    for c in labels:
        i = idx[c]
        tp = matrix[i][i]
        support = sum(matrix[i])
        predicted_n = sum(row[i] for row in matrix)
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                        "support": support, "predicted": predicted_n}
    present = [c for c in labels if per_class[c]["support"]]
    n = len(truth)
    return {
        "n": n,
        "accuracy": round(sum(matrix[i][i] for i in range(len(labels))) / n, 4) if n else 0.0,
        "macro_f1": round(sum(per_class[c]["f1"] for c in present) / len(present), 4) if present else 0.0,
        "per_class": per_class,
        "labels": labels,
        "confusion": matrix,  # rows: true label, columns: predicted label
    }


def half_of(key: str) -> int:
    """1 or 2: a stable split of rows by a hash of their key (used to report design/check halves)."""
    return 1 + int(hashlib.md5(str(key).encode()).hexdigest(), 16) % 2
