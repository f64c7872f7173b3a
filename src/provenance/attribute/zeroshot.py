"""CLIP zero-shot source evidence: an item's image embedding against text prompts per class.

Only meaningful with trained CLIP weights: with random weights (``tiny``, ``open_clip:ARCH``)
text and image embeddings share no meaning, so :func:`zero_shot_decision` refuses them.
The prompts of a class are embedded once and averaged (prompt ensembling, as in CLIP's
paper); an item's class probabilities are a softmax of ``temperature * cosine``, and the
evidence per class is ``weight * max(0, log p - mean log p)``: zero when the prompts do not
discriminate, positive for the classes the picture looks like. It is never negative: what a
picture looks like must not overrule what its host says about who published it; it breaks
ties where URL and caption say little.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from .taxonomy import Taxonomy


def zero_shot_decision(requested: bool | None, identity: dict[str, Any], encoder: Any | None) -> tuple[bool, str]:
    """Whether to use zero-shot for a build, and why. Raises :class:`UsageError` for an impossible request."""
    spec = identity.get("spec", "?")
    if requested is False:
        return False, "disabled (--no-zero-shot)"
    if not identity.get("trained", False):
        if requested:
            raise UsageError(f"--zero-shot needs an encoder with trained weights; {spec} is untrained (random weights), "
                             "so its text-image similarities mean nothing. Drop --zero-shot or use trained CLIP weights.")
        return False, f"encoder {spec} is untrained: CLIP zero-shot would be noise, so it is not used"
    if encoder is None or not hasattr(encoder, "embed_texts"):
        if requested:
            raise UsageError(f"--zero-shot needs the model {spec} itself (to embed the class prompts), and it could not be loaded")
        return False, f"the model {spec} is not loaded (precomputed embeddings), so prompts cannot be embedded"
    return True, f"on: class prompts embedded with {spec}"


class ZeroShot:
    """Class prompt embeddings of one encoder, and the per-item evidence they give."""

    def __init__(self, taxonomy: Taxonomy, encoder: Any):
        m = taxonomy.model
        self.classes = [c for c in taxonomy.classes if taxonomy.prompts.get(c)]
        if len(self.classes) < 2:
            raise UsageError("zero-shot needs prompts for at least two classes in the taxonomy")
        prompts = [p for c in self.classes for p in taxonomy.prompts[c]]
        emb = np.asarray(encoder.embed_texts(prompts), dtype=np.float32)
        means, i = [], 0
        for c in self.classes:
            n = len(taxonomy.prompts[c])
            v = emb[i:i + n].mean(axis=0)
            means.append(v / (np.linalg.norm(v) or 1.0))
            i += n
        self.class_vectors = np.stack(means)  # (classes, dim), unit rows
        self.temperature = float(m["zero_shot_temperature"])
        self.weight = float(m["zero_shot_weight"])
        self.cap = float(m["caps"].get("zero_shot", 1.5))
        self.n_prompts = len(prompts)

    def log_probs(self, vectors: np.ndarray) -> np.ndarray:
        logits = self.temperature * (np.asarray(vectors, dtype=np.float32) @ self.class_vectors.T)
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def evidence(self, vectors: np.ndarray) -> list[dict[str, float]]:
        """Per item: class -> weight in [0, cap], centred so that an indifferent item gets zeros."""
        lp = self.log_probs(vectors)
        centred = np.clip(self.weight * (lp - lp.mean(axis=1, keepdims=True)), 0.0, self.cap)
        return [{c: round(float(v), 3) for c, v in zip(self.classes, row) if v > 0} for row in centred]
