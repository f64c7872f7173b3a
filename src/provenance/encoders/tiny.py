"""The ``tiny`` encoder: a small open_clip architecture with seeded random weights.

It exists so that everything works offline (tests, ``provenance demo``). It is
untrained: its similarities reflect low-level pixel statistics, good enough to
find edited near-copies, meaningless as semantics. Outputs always say so.

The architecture is registered with open_clip as ``provenance-tiny`` (config in
``provenance/data/provenance-tiny.json``), so weights saved from it load through
the ordinary ``open_clip:provenance-tiny@weights.safetensors`` path. Patch tokens
are mean-pooled: an untrained CLS token barely depends on the image, while the
average of random patch features keeps more of the picture apart.
"""

from __future__ import annotations

import json
from importlib import resources

from .imports import import_open_clip

TINY_SEED = 20241125
TINY_ARCH = "provenance-tiny"
_CONFIG_FILE = resources.files("provenance") / "data" / f"{TINY_ARCH}.json"
TINY_CONFIG = json.loads(_CONFIG_FILE.read_text())


def register_tiny_config() -> None:
    """Make ``provenance-tiny`` an open_clip architecture name (idempotent)."""
    open_clip = import_open_clip()

    if TINY_ARCH not in open_clip.list_models():
        with resources.as_file(_CONFIG_FILE) as path:
            open_clip.add_model_config(path)


def build_tiny_model():
    """The tiny model in float32 with its weights drawn from a fixed seed (CPU generator)."""
    import torch
    from open_clip.model import CLIP

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = CLIP(**TINY_CONFIG)
    return model
