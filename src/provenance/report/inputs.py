"""What a report traces: a folder of images, or a manifest (CSV, Parquet, JSONL) with a path column."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import UsageError
from ..ingest.folder import IMAGE_EXTS

PATH_COLUMNS = ("path", "file", "filename", "image", "image_path")
MISSING = "(missing)"


@dataclass
class Generation:
    """One generated image of the study and the manifest row that describes it."""

    path: str  # as the manifest gives it (relative paths are relative to the manifest's folder)
    file: Path  # where it is on disk
    groups: dict[str, str]
    extra: dict[str, Any]  # the row's other columns (prompt, seed, ...)
    row: int  # 1-based row number in the manifest (file order for a folder)


@dataclass
class InputSet:
    source: str
    kind: str  # "folder" | "csv" | "parquet" | "jsonl"
    columns: list[str]
    group_by: list[str]
    generations: list[Generation]
    skipped: list[dict[str, Any]] = field(default_factory=list)


def read_inputs(source: str | os.PathLike, group_by: Sequence[str] = (), path_column: str | None = None) -> InputSet:
    """Read a folder or a manifest; rows whose file is missing are skipped and listed, not fatal.

    A group column the input does not have is a :class:`UsageError`; so is an input
    with no rows at all.
    """
    src = Path(source)
    group_by = [g.strip() for g in group_by if g and g.strip()]
    if src.is_dir():
        kind, columns, rows, base = "folder", ["path", "folder"], _folder_rows(src), src
    elif src.is_file():
        kind, rows = _read_manifest(src)
        columns = list(dict.fromkeys(c for r in rows for c in r))
        base = src.parent
    else:
        raise UsageError(f"input {src} does not exist: give a folder of images or a manifest (.csv, .parquet, .jsonl)")
    if not rows:
        raise UsageError(f"{src} holds no generations to trace" + (" (no image files found)" if kind == "folder" else " (the manifest has no rows)"))
    pcol = path_column or next((c for c in PATH_COLUMNS if c in columns), None)
    if pcol is None or pcol not in columns:
        raise UsageError(f"{src} has no path column (looked for {path_column or ', '.join(PATH_COLUMNS)}); columns: {', '.join(columns)}")
    missing = [g for g in group_by if g not in columns]
    if missing:
        raise UsageError(f"group column(s) {', '.join(missing)} not in {src}; available: {', '.join(c for c in columns if c != pcol)}")
    out = InputSet(source=str(src), kind=kind, columns=columns, group_by=group_by, generations=[])
    seen: dict[Path, int] = {}
    for i, r in enumerate(rows, start=1):
        value = r.get(pcol)
        ref = f"row {i}" if kind != "folder" else str(value)
        if value is None or str(value).strip() == "":
            out.skipped.append({"ref": ref, "path": None, "reason": "no path"})
            continue
        text = str(value).strip()
        file = Path(text).expanduser()
        if not file.is_absolute():
            file = base / file
        if not file.is_file():
            out.skipped.append({"ref": ref, "path": text, "reason": "missing file" if not file.exists() else "not a file"})
            continue
        real = file.resolve()
        if real in seen:
            out.skipped.append({"ref": ref, "path": text, "reason": "duplicate path", "detail": f"same file as row {seen[real]}"})
            continue
        seen[real] = i
        groups = {g: _group_value(r.get(g)) for g in group_by}
        extra = {k: v for k, v in r.items() if k != pcol and k not in group_by}
        out.generations.append(Generation(path=text, file=real, groups=groups, extra=extra, row=i))
    return out


def _group_value(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v) or str(v).strip() == "":
        return MISSING
    return str(v).strip()


def _folder_rows(root: Path) -> list[dict[str, Any]]:
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if f.startswith(".") or p.suffix.lower() not in IMAGE_EXTS:
                continue
            rel = p.relative_to(root)
            rows.append({"path": rel.as_posix(), "folder": rel.parent.as_posix() if rel.parent != Path(".") else "."})
    return rows


def _read_manifest(path: Path) -> tuple[str, list[dict[str, Any]]]:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    if suffix in (".csv", ".tsv", ".csv.gz"):
        import gzip

        opener = gzip.open if suffix.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            return "csv", list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return "parquet", pq.read_table(path).to_pylist()
        except Exception as exc:
            raise UsageError(f"cannot read {path} as Parquet: {str(exc)[:200]}") from None
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = []
        with open(path, encoding="utf-8-sig") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise UsageError(f"{path} line {n} is not JSON: a manifest .jsonl holds one JSON object per line") from None
                if not isinstance(obj, dict):
                    raise UsageError(f"{path} line {n} is not a JSON object")
                rows.append(obj)
        return "jsonl", rows
    raise UsageError(f"cannot tell the format of {path}: use a folder of images or a .csv, .parquet or .jsonl manifest")
