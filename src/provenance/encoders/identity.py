"""What an index records about the model that embedded it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import EncoderMismatch


@dataclass(frozen=True)
class EncoderIdentity:
    spec: str
    model_id: str  # weights independent of their location, e.g. "ViT-B-32/laion2b_s34b_b79k"
    dim: int
    fingerprint: str | None  # None when the weights could not be loaded to check (precomputed embeddings)
    trained: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EncoderIdentity":
        return cls(
            spec=d["spec"],
            model_id=d.get("model_id", d["spec"]),
            dim=int(d["dim"]),
            fingerprint=d.get("fingerprint"),
            trained=bool(d.get("trained", True)),
        )

    @property
    def arch(self) -> str:
        return self.model_id.split("@")[0].split("/")[0]

    def verifiable_with(self, other: "EncoderIdentity") -> bool:
        return bool(self.fingerprint and other.fingerprint)

    def check_compatible(self, other: "EncoderIdentity", index_name: str = "the index") -> None:
        """Raise :class:`EncoderMismatch` unless vectors from ``other`` are comparable with ours.

        Weights are compared by fingerprint. When one side's fingerprint is unknown
        (embeddings ingested without their model at hand) only the architecture and
        dimension can be compared; callers should say that the weights are unverified.
        """
        if self.verifiable_with(other):
            same = self.dim == other.dim and self.fingerprint == other.fingerprint
        else:
            same = self.dim == other.dim and self.arch == other.arch
        if not same:
            raise EncoderMismatch(
                f"{index_name} was built with encoder {self.spec} (dim {self.dim}, weights {self.fingerprint or self.model_id}); "
                f"the query encoder {other.spec} (dim {other.dim}, weights {other.fingerprint or other.model_id}) is a different model. "
                f"Trace with --encoder {self.spec!r} (same weights) or build an index with this encoder."
            )
