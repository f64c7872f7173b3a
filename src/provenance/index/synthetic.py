"""Synthetic unit vectors clustered like CLIP embeddings, for benchmarks and tests.

Real CLIP embeddings share a common direction, fall into many clusters of
different sizes, and spread their variance over few dimensions. Uniform random
vectors have none of that, which makes approximate search look either hopeless
or trivial; a Gaussian mixture with a decaying spectrum gives recall figures
that mean something. Generation is chunked and seeded: the same (seed, start,
count) always yields the same vectors, so 10M vectors can be streamed to disk.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

DEFAULT_CLUSTERS = 2048


class GaussianMixture:
    """``dim``-dimensional unit vectors from ``clusters`` anisotropic Gaussian clusters."""

    def __init__(self, dim: int = 512, clusters: int = DEFAULT_CLUSTERS, seed: int = 0, spread: float = 0.55, rank: int = 128):
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.seed = seed
        self.spread = spread
        # Power-law spectrum: most variance in a few dozen directions, like CLIP's.
        self.scale = (np.arange(1, dim + 1, dtype=np.float32) ** -0.5).astype(np.float32)
        self.scale /= np.linalg.norm(self.scale) / np.sqrt(dim)
        rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.rotation = rotation.astype(np.float32)
        # Within-cluster noise lives in the top ``rank`` directions (where the spectrum's
        # variance is) plus a small isotropic floor: 4x cheaper than full-rank noise.
        self.rank = min(rank, dim)
        self.common = _unit(rng.standard_normal(dim).astype(np.float32))
        centres = rng.standard_normal((clusters, dim)).astype(np.float32) * self.scale
        self.centres = _unit(centres @ self.rotation)
        weights = rng.pareto(1.5, clusters) + 1.0  # uneven cluster sizes
        self.weights = weights / weights.sum()

    def sample(self, start: int, count: int) -> np.ndarray:
        """Vectors ``start .. start+count`` of the endless seeded stream (float32, unit norm)."""
        rng = np.random.default_rng([self.seed, 1, start])
        which = rng.choice(len(self.centres), size=count, p=self.weights)
        r = self.rank
        noise = (rng.standard_normal((count, r), dtype=np.float32) * self.scale[:r]) @ self.rotation[:r]
        noise += rng.standard_normal((count, self.dim), dtype=np.float32) * float(self.scale[r:].mean() if r < self.dim else 0.0)
        noise *= self.spread / np.sqrt(self.dim)
        x = 0.8 * self.common + self.centres[which] + noise
        return _unit(x)

    def chunks(self, n: int, chunk: int = 100_000, start: int = 0) -> Iterator[np.ndarray]:
        for s in range(start, start + n, chunk):
            yield self.sample(s, min(chunk, start + n - s))

    def queries(self, count: int) -> np.ndarray:
        """Fresh vectors from the same mixture, never part of a stream (held-out queries)."""
        rng = np.random.default_rng([self.seed, 2, count])
        return self.sample(int(rng.integers(1 << 40, 1 << 41)), count)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)
