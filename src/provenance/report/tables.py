"""The report's tables: one row per (generation, neighbour), per generation, per group, per test."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..index.builder import rows_to_table
from ..util.atomic import atomic_path
from . import composition as comp_mod
from . import stats
from .inputs import Generation

ALL = "(all)"


@dataclass
class Traced:
    """A generation with its committed trace record and its completed composition."""

    gen: Generation
    record: dict[str, Any]
    shares: dict[str, dict[str, float]] = field(default_factory=dict)
    method: str = ""

    @property
    def result(self) -> dict[str, Any]:
        return self.record.get("result") or {}

    @property
    def neighbours(self) -> list[dict[str, Any]]:
        return self.result.get("neighbours") or []


def neighbour_rows(traced: list[Traced], group_by: list[str], classes: list[str]) -> list[dict[str, Any]]:
    rows = []
    for t in traced:
        for n in t.neighbours:
            probs = n.get("probabilities") or {}
            row = {"generation": t.gen.path, **t.gen.groups, "rank": n["rank"], "similarity": n["similarity"],
                   "neighbour_id": n["id"], "neighbour_key": n.get("key"), "neighbour_url": n.get("url"),
                   "neighbour_host": n.get("host"), "neighbour_caption": n.get("caption"),
                   "label": n.get("label"), "selfie": n.get("selfie"), "near_duplicate": bool(n.get("near_duplicate"))}
            for c in classes:
                if c != comp_mod.UNLABELLED:
                    row[f"p_{c}"] = probs.get(c)
            rows.append(row)
    return rows


def generation_rows(traced: list[Traced], group_by: list[str], classes: list[str]) -> list[dict[str, Any]]:
    rows = []
    for t in traced:
        ns = t.neighbours
        top = ns[0] if ns else {}
        signals = t.result.get("query_signals") or {}
        row: dict[str, Any] = {"generation": t.gen.path, **t.gen.groups}
        for k, v in t.gen.extra.items():
            row.setdefault(k, v)
        row.update({
            "file": str(t.gen.file), "sha256": t.record["sha256"], "k": len(ns),
            "top_similarity": t.result.get("top_similarity"), "top_neighbour_id": top.get("id"), "top_neighbour_key": top.get("key"),
            "top_neighbour_url": top.get("url"), "top_neighbour_caption": top.get("caption"), "top_neighbour_label": top.get("label"),
            "near_duplicate": bool(t.result.get("near_duplicate")),
            "n_near_duplicates": sum(1 for n in ns if n.get("near_duplicate")),
            "query_watermark": _text(signals.get("watermark")),
            "query_signals": json.dumps(signals, ensure_ascii=False, default=str) if signals else None,
        })
        for c in classes:
            s = t.shares[c]
            row[f"share_{c}"], row[f"share_{c}_low"], row[f"share_{c}_high"], row[f"count_{c}"] = s["share"], s["low"], s["high"], s["count"]
        rows.append(row)
    return rows


def _text(v: Any) -> str | None:
    if v in (None, "", False):
        return None
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)


def groupings(group_by: list[str]) -> list[list[str]]:
    """The combined grouping first, then each column on its own (when there are several)."""
    if not group_by:
        return [[]]
    return [list(group_by)] + ([[g] for g in group_by] if len(group_by) > 1 else [])


def _key(t: Traced, cols: list[str]) -> tuple[str, ...]:
    return tuple(t.gen.groups[c] for c in cols)


def group_rows(traced: list[Traced], group_by: list[str], classes: list[str], rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for cols in groupings(group_by):
        keys = sorted({_key(t, cols) for t in traced})
        for key in keys:
            members = [t for t in traced if _key(t, cols) == key]
            row: dict[str, Any] = {"grouping": "+".join(cols) or ALL}
            for g in group_by:
                row[g] = key[cols.index(g)] if g in cols else ALL
            row["n"] = len(members)
            row["n_near_duplicate"] = sum(1 for t in members if t.result.get("near_duplicate"))
            sims = [t.result.get("top_similarity") for t in members if t.result.get("top_similarity") is not None]
            row["mean_top_similarity"] = float(np.mean(sims)) if sims else None
            row["neighbours"] = sum(len(t.neighbours) for t in members)
            for c in classes:
                mean, low, high = stats.bootstrap_mean([t.shares[c]["share"] for t in members], rng)
                row[f"share_{c}"], row[f"share_{c}_low"], row[f"share_{c}_high"] = mean, low, high
                row[f"count_{c}"] = sum(t.shares[c]["count"] for t in members)
            rows.append(row)
    return rows


def test_rows(traced: list[Traced], group_by: list[str], classes: list[str], rng: np.random.Generator,
              n_permutations: int = stats.N_PERMUTATIONS) -> list[dict[str, Any]]:
    """Do groups differ? Per grouping: chi-square on neighbour counts, permutation tests on shares."""
    rows: list[dict[str, Any]] = []
    if not group_by:
        return rows
    for cols in groupings(group_by):
        keys = sorted({_key(t, cols) for t in traced})
        grouping = "+".join(cols)
        base = {"grouping": grouping, "n_groups": len(keys), "n_generations": len(traced)}
        if len(keys) < 2:
            rows.append({**base, "test": "chi2_neighbour_labels", "source": "all", "note": "needs at least two groups"})
            continue
        codes = np.array([keys.index(_key(t, cols)) for t in traced])
        counts = np.array([[sum(traced[i].shares[c]["count"] for i in np.flatnonzero(codes == g)) for c in classes] for g in range(len(keys))])
        chi = stats.chi_square(counts)
        rows.append({**base, "test": "chi2_neighbour_labels", "source": "all",
                     **({"statistic": chi["statistic"], "dof": chi["dof"], "p_value": chi["p_value"],
                         "note": f"neighbours treated as independent (overstates significance); min expected count {chi['min_expected']:.1f}"}
                        if chi else {"note": "fewer than two labels or groups with neighbours"})})
        x = np.array([[t.shares[c]["share"] for c in classes] for t in traced])
        stat, p = stats.permutation_test(x, codes, rng, n_permutations)
        rows.append({**base, "test": "permutation_shares", "source": "all", "statistic": stat, "p_value": p,
                     "n_resamples": n_permutations, "note": "between-group sum of squares of per-generation shares, all sources; generations shuffled between groups"})
        per_class = []
        for j, c in enumerate(classes):
            if np.ptp(x[:, j]) == 0:
                per_class.append({**base, "test": "permutation_shares", "source": c, "note": "share identical in every generation"})
                continue
            stat, p = stats.permutation_test(x[:, j], codes, rng, n_permutations)
            per_class.append({**base, "test": "permutation_shares", "source": c, "statistic": stat, "p_value": p,
                              "n_resamples": n_permutations})
        for row, adj in zip(per_class, stats.benjamini_hochberg([r.get("p_value") for r in per_class])):
            row["p_value_bh"] = adj
        rows.extend(per_class)
    return rows


TEST_COLUMNS = ("grouping", "test", "source", "statistic", "dof", "p_value", "p_value_bh", "n_groups", "n_generations", "n_resamples", "note")


def write_parquet(rows: list[dict[str, Any]], path: Path, columns: list[str] | None = None) -> None:
    import pyarrow.parquet as pq

    table = _table(rows, columns)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_csv(rows: list[dict[str, Any]], path: Path, columns: list[str] | None = None) -> None:
    import pyarrow.csv as pcsv

    table = _table(rows, columns)
    with atomic_path(path) as tmp:
        pcsv.write_csv(table, tmp)


FLOAT_PREFIXES = ("p_", "share_", "similarity", "top_similarity", "mean_top_similarity", "statistic", "p_value")
BOOL_COLUMNS = ("selfie", "near_duplicate")


def _table(rows: list[dict[str, Any]], columns: list[str] | None):
    """Rows as an Arrow table; columns no row fills get a type anyway (floats, flags or text), never null."""
    import pyarrow as pa

    empty = not rows
    if columns:
        rows = [{c: r.get(c) for c in columns} for r in rows] or [dict.fromkeys(columns)]
    table = rows_to_table(rows)
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type):
            typ = pa.float64() if f.name.startswith(FLOAT_PREFIXES) else pa.bool_() if f.name in BOOL_COLUMNS else pa.string()
            table = table.set_column(i, f.name, table.column(i).cast(typ))
    return table.slice(0, 0) if empty else table


def neighbour_columns(group_by: list[str], classes: list[str]) -> list[str]:
    return (["generation", *group_by, "rank", "similarity", "neighbour_id", "neighbour_key", "neighbour_url", "neighbour_host",
             "neighbour_caption", "label", "selfie", "near_duplicate"] + [f"p_{c}" for c in classes if c != comp_mod.UNLABELLED])

