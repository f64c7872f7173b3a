"""What a (possibly interrupted) index directory holds: committed parts, pending parts, done units."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ProvenanceError
from ..util.atomic import remove_stale_tmp
from .journal import Journal
from .layout import PARTS_DIR, index_file
from .store import read_manifest


@dataclass
class BuildState:
    directory: Path
    manifest: dict[str, Any] | None
    records: list[dict[str, Any]]
    committed_parts: list[dict[str, Any]] = field(default_factory=list)
    pending_parts: list[dict[str, Any]] = field(default_factory=list)
    done_units: set[str] = field(default_factory=set)
    begin: dict[str, Any] | None = None  # the first begin record of the uncommitted build

    @property
    def committed_count(self) -> int:
        return int(self.manifest["count"]) if self.manifest else 0

    @property
    def next_id(self) -> int:
        return self.committed_count + sum(int(p["count"]) for p in self.pending_parts)

    @property
    def next_part_number(self) -> int:
        names = [p["name"] for p in self.committed_parts + self.pending_parts]
        return 1 + max((int(n.split("-")[1]) for n in names), default=-1)

    @property
    def has_pending(self) -> bool:
        return bool(self.pending_parts) or (self.begin is not None)


def load_state(directory: Path) -> BuildState:
    """Read manifest + journal, and clean up what a crashed writer left (tmp files, unjournaled parts, old generations)."""
    manifest = read_manifest(directory)
    journal = Journal(directory)
    records = journal.read()
    state = BuildState(directory=directory, manifest=manifest, records=records)
    state.committed_parts = list(manifest["parts"]) if manifest else []
    committed_names = {p["name"] for p in state.committed_parts}
    last_commit = max((i for i, r in enumerate(records) if r.get("op") == "commit"), default=-1)
    for i, rec in enumerate(records):
        op = rec.get("op")
        if op == "part" and rec["name"] not in committed_names:
            state.pending_parts.append(rec)
        elif op == "unit_done":
            state.done_units.add(rec["unit"])
        elif op == "begin" and i > last_commit and state.begin is None:
            state.begin = rec
    if state.begin is not None and manifest and manifest.get("build_id") == state.begin.get("build_id"):
        state.begin = None  # committed; the journal commit line was lost to a crash
    _clean(directory, state)
    return state


def _clean(directory: Path, state: BuildState) -> None:
    parts_dir = directory / PARTS_DIR
    remove_stale_tmp(directory)
    remove_stale_tmp(parts_dir)
    known = {p["name"] for p in state.committed_parts + state.pending_parts}
    if parts_dir.is_dir():
        for f in parts_dir.iterdir():
            stem = f.name.split(".")[0]
            if stem.startswith("part-") and stem not in known:
                f.unlink()  # written but never journaled: its items are redone
    for p in state.committed_parts + state.pending_parts:
        for ext in (".npy", ".parquet"):
            if not (parts_dir / f"{p['name']}{ext}").exists():
                raise ProvenanceError(
                    f"index {directory} is damaged: {PARTS_DIR}/{p['name']}{ext} is missing. "
                    "Rebuild it with --overwrite."
                )
    current = state.manifest["faiss"]["file"] if state.manifest else None
    for f in directory.glob("index-*.faiss"):
        if f.name != current:
            f.unlink()


__all__ = ["BuildState", "load_state", "index_file"]
