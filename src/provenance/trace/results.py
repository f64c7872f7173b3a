"""Trace results as dataclasses; ``to_dict`` gives the documented JSON form (schema: data/trace.schema.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit


def url_host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url.strip()).hostname
    except ValueError:
        return None


@dataclass
class Neighbour:
    rank: int
    id: int
    similarity: float
    key: str | None
    url: str | None
    host: str | None
    caption: str | None
    near_duplicate: bool
    label: str | None = None  # source label, when the index carries attribution
    probabilities: dict[str, float] | None = None
    selfie: bool | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # every other metadata column


@dataclass
class TraceResult:
    query: str  # image path (or "<image N>" for in-memory images), or the text
    kind: str  # "image" | "text"
    neighbours: list[Neighbour]
    near_duplicate: bool
    top_similarity: float | None
    near_duplicate_threshold: float
    composition: dict[str, Any] | None = None  # nearest-neighbour source composition (attribution)
    query_signals: dict[str, Any] | None = None  # evidence read off the query image itself
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
