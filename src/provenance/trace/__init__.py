"""Trace: generated image (or prompt) -> nearest training items with their metadata."""

from .near_duplicate import default_threshold
from .results import Neighbour, TraceResult
from .tracer import trace_images, trace_texts

__all__ = ["Neighbour", "TraceResult", "default_threshold", "trace_images", "trace_texts"]
