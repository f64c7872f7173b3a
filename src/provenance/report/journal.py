"""Resumable tracing: every traced generation is appended to OUTDIR/.work/traces.jsonl.

One line per generation is its commit point: a run killed anywhere loses at most
the batch in flight, and a re-run skips every generation whose file (path and
content hash) is already there. Results only count for the settings they were
made with (index build, encoder, k, threshold, query signals): when these change,
earlier lines are set aside and everything is traced again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from ..util.atomic import atomic_write_json

WORK = ".work"
TRACES = "traces.jsonl"
CONFIG = "config.json"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class TraceJournal:
    def __init__(self, out_dir: Path, config: dict[str, Any], force: bool = False):
        self.dir = out_dir / WORK
        self.path = self.dir / TRACES
        self.config = config
        self.discarded = 0
        self.dir.mkdir(parents=True, exist_ok=True)
        old = _read_json(self.dir / CONFIG)
        if force or old != config:
            if self.path.exists():
                self.discarded = sum(1 for _ in self._lines())
                self.path.unlink()
            atomic_write_json(self.dir / CONFIG, config)
        self.reason_discarded = "forced" if force else ("settings changed" if old is not None and old != config else None)
        self._repair_tail()

    def _repair_tail(self) -> None:
        """Cut a last line torn by a crash, so the next append starts on a line of its own."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def _lines(self) -> Iterable[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash: its generation is traced again
                if isinstance(rec, dict) and "file" in rec and "sha256" in rec:
                    yield rec

    def load(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Committed results by (file, sha256); a later line for the same file wins."""
        return {(r["file"], r["sha256"]): r for r in self._lines()}

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        data = "".join(json.dumps(r, ensure_ascii=False, default=_plain) + "\n" for r in records)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def _plain(value: Any) -> Any:
    """numpy scalars as their Python values (a numpy bool must stay a boolean), anything else as text."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return str(value)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
