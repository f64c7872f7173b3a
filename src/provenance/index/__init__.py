"""Index: the on-disk store (parts + journal + manifest), its builder, and search."""

from .builder import BuildOptions, BuildReport, build_index
from .index import Index, open_index

__all__ = ["BuildOptions", "BuildReport", "Index", "build_index", "open_index"]
