"""Encoder spec strings.

``tiny``                                   small seeded random open_clip model (offline; untrained)
``open_clip:ARCH``                         architecture with seeded random weights (untrained; benchmarks)
``open_clip:ARCH/TAG``                     open_clip pretrained tag, e.g. ``ViT-B-32/laion2b_s34b_b79k``
``open_clip:ARCH@PATH``                    local weights file (.safetensors, or .pt/.bin/.pth loaded weights-only)
``open_clip:hf-hub:ORG/REPO``              an open_clip model repo on the Hugging Face hub
``open_clip:local-dir:DIR``                a downloaded open_clip model folder (open_clip_config.json + weights)

The ``open_clip:`` prefix may be left out.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..errors import EncoderError
from .imports import import_open_clip

TINY = "tiny"


@dataclass(frozen=True)
class EncoderSpec:
    kind: str  # "tiny" | "open_clip"
    arch: str = ""
    tag: str | None = None  # pretrained tag
    weights_path: str | None = None  # local weights file
    hub: str | None = None  # "hf-hub:org/repo" or "local-dir:/path"

    @property
    def text(self) -> str:
        if self.kind == TINY:
            return TINY
        if self.hub:
            return f"open_clip:{self.hub}"
        if self.weights_path:
            return f"open_clip:{self.arch}@{self.weights_path}"
        if self.tag:
            return f"open_clip:{self.arch}/{self.tag}"
        return f"open_clip:{self.arch}"

    @property
    def model_id(self) -> str:
        """What the weights are, independent of where they were read from."""
        if self.kind == TINY:
            return TINY
        if self.hub:
            return self.hub
        if self.tag:
            return f"{self.arch}/{self.tag}"
        if self.weights_path:
            return f"{self.arch}@file"
        return f"{self.arch}/random"

    @property
    def has_trained_weights(self) -> bool:
        # The tiny architecture only ever exists with seeded random weights, wherever they are read from.
        return self.kind != TINY and self.arch != "provenance-tiny" and bool(self.tag or self.weights_path or self.hub)

    def __str__(self) -> str:
        return self.text


def parse_spec(spec: str) -> EncoderSpec:
    """Parse an encoder spec; raises :class:`EncoderError` naming the spec on any problem."""
    raw = (spec or "").strip()
    if not raw:
        raise EncoderError("empty encoder spec: use e.g. 'tiny' or 'open_clip:ViT-B-32/laion2b_s34b_b79k'")
    if raw == TINY:
        return EncoderSpec(kind=TINY)
    body = raw[len("open_clip:"):] if raw.startswith("open_clip:") else raw
    if ":" in body.split("/")[0] and not body.startswith(("hf-hub:", "local-dir:")):
        kind = body.split(":")[0]
        raise EncoderError(
            f"unknown encoder kind {kind!r} in spec {raw!r}: supported are 'tiny' and 'open_clip:...' "
            "(e.g. open_clip:ViT-B-32/laion2b_s34b_b79k)"
        )
    if body.startswith(("hf-hub:", "local-dir:")):
        if not body.split(":", 1)[1]:
            raise EncoderError(f"encoder spec {raw!r} names no repository or folder after the colon")
        return EncoderSpec(kind="open_clip", hub=body)
    if "@" in body:
        arch, path = body.split("@", 1)
        if not path:
            raise EncoderError(f"encoder spec {raw!r}: give a weights file after '@', e.g. open_clip:ViT-B-32@weights.safetensors")
        _check_arch(arch, raw)
        return EncoderSpec(kind="open_clip", arch=arch, weights_path=path)
    if "/" in body:
        arch, tag = body.split("/", 1)
        _check_arch(arch, raw)
        _check_tag(arch, tag, raw)
        return EncoderSpec(kind="open_clip", arch=arch, tag=tag)
    _check_arch(body, raw)
    return EncoderSpec(kind="open_clip", arch=body)


def _check_arch(arch: str, raw: str) -> None:
    open_clip = import_open_clip()

    from .tiny import register_tiny_config

    register_tiny_config()
    models = open_clip.list_models()
    if arch not in models:
        close = difflib.get_close_matches(arch, models, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " See `python -c 'import open_clip; print(open_clip.list_models())'`."
        raise EncoderError(f"unknown open_clip architecture {arch!r} in encoder spec {raw!r}.{hint}")


def _check_tag(arch: str, tag: str, raw: str) -> None:
    open_clip = import_open_clip()

    tags = open_clip.list_pretrained_tags_by_model(arch)
    if tag not in tags:
        listed = ", ".join(tags[:12]) + (" ..." if len(tags) > 12 else "") if tags else "none"
        raise EncoderError(
            f"unknown pretrained tag {tag!r} for {arch} in encoder spec {raw!r} (known tags: {listed}). "
            f"For a local weights file use open_clip:{arch}@PATH"
        )
