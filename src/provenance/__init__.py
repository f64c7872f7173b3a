"""provenance: which training images does a generated image resemble, and who published them?

The Python API mirrors the CLI::

    import provenance
    report = provenance.build_index("people", "shards/{00000..00009}.tar", encoder="open_clip:ViT-B-32/laion2b_s34b_b79k")
    index = provenance.open_index("people")
    results = index.trace(["generated.png"], k=20)
    scores, ids = index.search(vectors, k=10)

Imports are lazy so that ``import provenance`` (and the CLI's start-up) stays fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# torch and faiss each bring their own OpenMP runtime; with the default busy-waiting
# their idle threads spin against each other, which on a 2-core machine made FAISS
# training 40x slower after a model had run. Passive waiting costs nothing measurable.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

_EXPORTS = {
    "build_index": ("provenance.api", "build_index"),
    "BuildOptions": ("provenance.index", "BuildOptions"),
    "BuildReport": ("provenance.index", "BuildReport"),
    "open_index": ("provenance.index", "open_index"),
    "Index": ("provenance.index", "Index"),
    "load_encoder": ("provenance.encoders", "load_encoder"),
    "Encoder": ("provenance.encoders", "Encoder"),
    "TraceResult": ("provenance.trace", "TraceResult"),
    "Neighbour": ("provenance.trace", "Neighbour"),
    "ProvenanceError": ("provenance.errors", "ProvenanceError"),
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        module, attr = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'provenance' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from .encoders import Encoder, load_encoder
    from .errors import ProvenanceError
    from .api import build_index
    from .index import BuildOptions, BuildReport, Index, open_index
    from .trace import Neighbour, TraceResult
