"""When is a neighbour a near-duplicate (a possible memorisation) of the query?

Cosine thresholds depend on the encoder. For trained CLIP image embeddings,
re-encodes, crops and recompressions of one picture score >= 0.95 while distinct
photos of the same subject rarely exceed 0.93 (the range used for LAION's own
CLIP-based de-duplication). Untrained encoders (``tiny``, random open_clip
weights) put every image close together, so only nearly pixel-identical copies
are trusted: ``scripts/calibrate_near_duplicates.py`` measures the separation
for an index's encoder and prints the figures behind these defaults.
"""

from __future__ import annotations

from ..encoders.identity import EncoderIdentity

TRAINED_CLIP = 0.95
TINY = 0.99
UNTRAINED = 0.995


def default_threshold(identity: EncoderIdentity) -> float:
    if identity.model_id == "tiny":
        return TINY
    return TRAINED_CLIP if identity.trained else UNTRAINED
