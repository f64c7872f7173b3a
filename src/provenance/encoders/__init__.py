"""Encoders: named by spec strings, producing L2-normalised CLIP embeddings."""

from .identity import EncoderIdentity
from .model import Encoder, load_encoder, pick_device
from .precision import PRECISIONS
from .spec import EncoderSpec, parse_spec

__all__ = ["Encoder", "EncoderIdentity", "EncoderSpec", "PRECISIONS", "load_encoder", "parse_spec", "pick_device"]
