"""report.html: one self-contained file (jinja2, autoescaped; images embedded as data URIs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..util.atomic import atomic_write_bytes
from . import plots as plots_mod
from .tables import ALL, Traced
from .thumbs import data_uri, safe_url


def _env():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(loader=PackageLoader("provenance.report", "templates"), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def card(t: Traced, classes: list[str], show: int, remote_thumbnails: bool) -> dict[str, Any]:
    signals = t.result.get("query_signals") or {}
    neighbours = []
    for n in t.neighbours[:show]:
        url = safe_url(n.get("url"))
        key = n.get("key")
        neighbours.append({
            "rank": n["rank"], "similarity": float(n["similarity"]), "near_duplicate": bool(n.get("near_duplicate")),
            "label": n.get("label"), "caption": n.get("caption"), "host": n.get("host") if url else None, "url": url,
            "thumb": data_uri(key) if isinstance(key, str) else None,
            "remote": url if (remote_thumbnails and url) else None,
            "key_tail": os.path.basename(key) if isinstance(key, str) else None,
        })
    shares = [{"label": c, **t.shares[c]} for c in classes]
    return {"path": t.gen.path, "groups": t.gen.groups, "prompt": t.gen.extra.get("prompt"),
            "thumb": data_uri(t.gen.file), "near_duplicate": bool(t.result.get("near_duplicate")),
            "top_similarity": t.result.get("top_similarity"), "watermark": _watermark(signals.get("watermark")),
            "shares": shares, "neighbours": neighbours}


def _watermark(v: Any) -> str | None:
    if not v:
        return None
    if isinstance(v, dict):
        return str(v.get("text") or v.get("agency") or v)
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return str(v)


def grouped_for_html(group_rows: list[dict[str, Any]], group_by: list[str], classes: list[str]) -> list[dict[str, Any]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in group_rows:
        label = " · ".join(f"{r[g]}" for g in group_by if r.get(g) != ALL) or ALL
        out.setdefault(r["grouping"], []).append({
            "label": label, "n": r["n"], "n_near_duplicate": r["n_near_duplicate"],
            "shares": {c: r[f"share_{c}"] for c in classes},
            "lows": {c: r[f"share_{c}_low"] for c in classes}, "highs": {c: r[f"share_{c}_high"] for c in classes},
        })
    return [{"name": name, "rows": rows} for name, rows in out.items()]


def _share_thumbnails(cards: list[dict[str, Any]]) -> list[str]:
    """Each distinct neighbour thumbnail once, as a CSS class: the same training image recurs across many cards."""
    index: dict[str, int] = {}
    for c in cards:
        for n in c["neighbours"]:
            if n["thumb"]:
                n["thumb_class"] = f"t{index.setdefault(n['thumb'], len(index))}"
    return list(index)


def render(path: Path, *, title: str, summary: dict[str, Any], notes: list[str], classes: list[str],
           grouped: list[dict[str, Any]], tests: list[dict[str, Any]], plots: list[dict[str, str]],
           skipped: list[dict[str, Any]], cards: list[dict[str, Any]], cards_omitted: bool, command: str,
           remote_thumbnails: bool, n_permutations: int) -> None:
    thumbs = _share_thumbnails(cards)
    colours = {c: plots_mod.colour(c, classes) for c in classes}
    colours.setdefault("unlabelled", plots_mod.COLOURS["unlabelled"])
    tests = [{k: t.get(k) for k in ("grouping", "test", "source", "statistic", "p_value", "p_value_bh", "note")} for t in tests]
    skipped = [{"ref": s.get("ref"), "path": s.get("path"), "reason": s.get("reason"), "detail": s.get("detail")} for s in skipped]
    html = _env().get_template("report.html.j2").render(
        title=title, summary=summary, notes=notes, classes=classes, colours=colours, grouped=grouped, tests=tests,
        plots=plots, skipped=skipped, cards=cards, cards_omitted=cards_omitted, command=command, thumbs=thumbs,
        remote_thumbnails=remote_thumbnails, n_permutations=n_permutations)
    atomic_write_bytes(path, html.encode("utf-8"))
