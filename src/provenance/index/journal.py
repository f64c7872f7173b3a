"""The build journal: an append-only, fsynced JSON-lines log inside the index directory.

A record reaches the journal only after the files it names were renamed into
place, so a build killed at any point resumes from the last complete line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .layout import JOURNAL



class Journal:
    def __init__(self, directory: Path):
        self.path = directory / JOURNAL

    def read(self) -> list[dict[str, Any]]:
        """All complete records; a torn final line (crash mid-write) is cut off the file."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        records, good = [], 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            good += len(line)
        if good != len(data):
            with open(self.path, "rb+") as f:
                f.truncate(good)
                os.fsync(f.fileno())
        return records

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        with open(self.path, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
