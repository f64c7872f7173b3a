"""Known labels for the demo corpus: its generator's own choice of publisher per item.

The demo corpus generator chose the kind of publisher of every item it made (the
``demo_source`` column): this labeler copies that choice into the index's
attribution columns, and says so in the manifest. It is ground truth for a
synthetic corpus, not an estimate, and it never labels anything else: tests use it
to check reports against labels they know.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .hosts import SOURCES


class KnownSourceLabeler:
    """Implements the index builder's ``Labeler`` hook from a column that already holds the source."""

    def __init__(self, column: str = "demo_source"):
        self.column = column

    def prepare(self, identity: dict[str, Any], encoder: Any | None) -> None:
        return None

    def __call__(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        for row in rows:
            known = row.get(self.column)
            label = known if known in SOURCES else "other"
            row["label"] = label
            row["label_confidence"] = 1.0 if known in SOURCES else 0.0
            row["selfie"] = False
            for c in SOURCES:
                row[f"p_{c}"] = 1.0 if c == label else 0.0
            row["evidence"] = json.dumps({"known_source": {"column": self.column, "value": known}})

    def describe(self) -> dict[str, Any]:
        return {"method": f"known sources: copied from the '{self.column}' column that the demo corpus generator wrote "
                          "(ground truth of a synthetic corpus, not an estimate)", "classes": list(SOURCES)}
