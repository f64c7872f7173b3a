"""Ingest: turn a user's data (folders, shards, embeddings, datasets) into items to index."""

from .detect import FORMATS, detect_format, open_source
from .items import Block, Item, Skip, Unit

__all__ = ["Block", "FORMATS", "Item", "Skip", "Unit", "detect_format", "open_source"]
