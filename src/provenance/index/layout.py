"""File names inside an index directory."""

from __future__ import annotations

PARTS_DIR = "parts"
MANIFEST = "manifest.json"
FORMAT = "provenance-index"
FORMAT_VERSION = 1
SKIPS = "skipped.jsonl"
JOURNAL = "journal.jsonl"
LOCK = "LOCK"
LOOKUP_SUFFIX = ".arrow"  # uncompressed Arrow IPC copy of a part's metadata, memory-mapped for lookups by id


def part_name(n: int) -> str:
    return f"part-{n:06d}"


def index_file(generation: int) -> str:
    return f"index-{generation:06d}.faiss"
