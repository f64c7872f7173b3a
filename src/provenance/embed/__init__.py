"""Embed: decode and preprocess images in parallel, batch them through the encoder."""

from .pipeline import embed_items, default_workers

__all__ = ["default_workers", "embed_items"]
