"""The ``tiny`` encoder: a small open_clip architecture with seeded random weights.

It exists so that everything works offline (tests, ``provenance demo``). It is
untrained: its similarities reflect low-level pixel statistics, good enough to
find edited near-copies, meaningless as semantics. Outputs always say so.
"""

from __future__ import annotations

TINY_SEED = 20241125

# Patch tokens are mean-pooled: an untrained CLS token barely depends on the image,
# while the average of random patch features keeps more of the picture apart.
TINY_CONFIG = {
    "embed_dim": 256,
    "vision_cfg": {
        "image_size": 96,
        "layers": 2,
        "width": 192,
        "head_width": 32,
        "patch_size": 8,
        "pool_type": "avg",
    },
    "text_cfg": {
        "context_length": 77,
        "vocab_size": 49408,
        "width": 128,
        "heads": 4,
        "layers": 2,
    },
}


def build_tiny_model():
    """The tiny model in float32 with its weights drawn from a fixed seed (CPU generator)."""
    import torch
    from open_clip.model import CLIP

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = CLIP(**TINY_CONFIG)
    return model
