"""CLIP encoders: load open_clip models from a spec and embed images and text."""

from __future__ import annotations

import logging
import os
import warnings
from functools import cached_property
from typing import Callable, Sequence

import numpy as np

from ..errors import EncoderError
from ..util.hub import quiet_hub
from .fingerprint import weights_fingerprint
from .identity import EncoderIdentity
from .imports import import_open_clip
from .precision import MIN_COSINE, resolve_precision, torch_dtype
from .spec import TINY, EncoderSpec, parse_spec

log = logging.getLogger(__name__)

RANDOM_INIT_SEED = 0
PRECISION_CHECK_ITEMS = 8  # first-batch items embedded in float32 too, to check reduced precision
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".npz")


def pick_device(requested: str | None = None) -> str:
    """``cuda`` when available (or requested), else ``cpu``."""
    import torch

    if requested and requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise EncoderError(f"device {requested!r} requested but CUDA is not available here; use --device cpu")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


class Encoder:
    """A CLIP image/text encoder producing L2-normalised float32 embeddings.

    ``precision`` is applied lazily: the first batch is embedded in float32 and in
    the reduced precision, and the reduced one is kept only if every embedding
    stays within cosine :data:`MIN_COSINE` of float32.
    """

    engine = "torch"

    def __init__(self, spec: EncoderSpec, model, preprocess: Callable, tokenizer: Callable[[], Callable], *, device: str,
                 precision: str):
        import torch

        self.spec = spec
        self.device = device
        self.requested_precision = precision
        self.preprocess = preprocess
        self._tokenizer_factory = tokenizer
        model.eval()
        self._model = model.to(device)
        self.precision = "fp32"  # until the first batch settles the requested one
        self._pending_precision = precision if precision != "fp32" else None
        self.precision_check: dict | None = None
        with torch.inference_mode():
            state = self._model.state_dict()
            self.fingerprint = weights_fingerprint(state)
        self.dim = int(getattr(model, "embed_dim", 0) or model.text_projection.shape[1])
        self.image_size = _image_size(model)

    @cached_property
    def fast(self):
        """The fast equivalent of ``preprocess`` (see embed.preprocess), or None for a non-standard transform."""
        from ..embed.preprocess import fast_preprocess

        return fast_preprocess(self.preprocess)

    @cached_property
    def tokenizer(self) -> Callable:
        # Built on first text query: reading the BPE vocabulary costs ~0.1 s that image traces skip.
        return self._tokenizer_factory()

    @property
    def trained(self) -> bool:
        return self.spec.has_trained_weights

    @property
    def identity(self) -> EncoderIdentity:
        return EncoderIdentity(
            spec=self.spec.text,
            model_id=self.spec.model_id,
            dim=self.dim,
            fingerprint=self.fingerprint,
            trained=self.trained,
        )

    # -- precision -------------------------------------------------------
    def _settle_precision(self, run: Callable[[object], "object"], n: int) -> "object | None":
        """On the first batch, try the reduced precision; returns that batch's features.

        The float32 reference is computed on the first :data:`PRECISION_CHECK_ITEMS` items only:
        a float32 forward of a whole batch would cost more than the rest of a short trace.
        """
        import torch

        target = self._pending_precision
        self._pending_precision = None
        m = min(n, PRECISION_CHECK_ITEMS)
        reference = run(self._model, slice(0, m)).float()
        # Cast in place: on the rare fallback the float32 model is rebuilt, which is cheaper
        # than cloning ~600 MB of weights on every run.
        reduced_model = self._model.to(torch_dtype(target))
        reduced = run(reduced_model, slice(None)).float()
        cos = torch.nn.functional.cosine_similarity(reference, reduced[:m], dim=-1)
        worst = float(cos.min()) if cos.numel() else 1.0
        self.precision_check = {"requested": target, "min_cosine_vs_fp32": worst, "threshold": MIN_COSINE, "checked_items": m}
        if worst >= MIN_COSINE:
            self._model = reduced_model
            self.precision = target
            self.precision_check["used"] = target
            return reduced
        self._model = self._reload_fp32()
        reference = run(self._model, slice(None)).float()
        warnings.warn(
            f"{target} embeddings differ from float32 (worst cosine {worst:.5f} < {MIN_COSINE}); using fp32",
            RuntimeWarning,
            stacklevel=3,
        )
        self.precision_check["used"] = "fp32"
        return reference

    def _reload_fp32(self):
        """The float32 model again (after an in-place cast to reduced precision failed the check)."""
        model = _build_model(self.spec)[0].to(self.device)
        model.eval()
        return model

    # -- embedding -------------------------------------------------------
    def embed_pixels(self, pixels) -> np.ndarray:
        """Embed a preprocessed (n, 3, H, W) tensor; returns (n, dim) float32, unit norm."""
        import torch

        with torch.inference_mode():
            x = pixels.to(self.device, non_blocking=True)

            def run(model, rows=slice(None)):
                dtype = next(model.parameters()).dtype
                return model.encode_image(x[rows].to(dtype))

            feats = self._settle_precision(run, len(x)) if self._pending_precision else run(self._model)
            return _normalise(feats)

    def embed_images(self, images: Sequence, batch_size: int = 64) -> np.ndarray:
        """Embed PIL images (already decoded); preprocessing runs ahead on threads (see :func:`embed_ahead`)."""
        from ..embed.preprocess import embed_ahead, prepare_one, to_batch

        fast = self.fast
        return embed_ahead(images, batch_size, lambda im: prepare_one(im.convert("RGB"), fast, self.preprocess),
                           lambda prepared: self.embed_pixels(to_batch(prepared, fast)), self.dim)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                tokens = self.tokenizer(list(texts[i : i + batch_size])).to(self.device)

                def run(model, rows=slice(None)):
                    return model.encode_text(tokens[rows])

                feats = self._settle_precision(run, len(tokens)) if self._pending_precision else run(self._model)
                out.append(_normalise(feats))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def __repr__(self) -> str:
        return f"Encoder({self.spec.text!r}, dim={self.dim}, device={self.device}, precision={self.precision})"


def _normalise(feats) -> np.ndarray:
    import torch

    f = torch.nn.functional.normalize(feats.float(), dim=-1)
    return np.ascontiguousarray(f.cpu().numpy(), dtype=np.float32)


def _image_size(model) -> int:
    size = getattr(getattr(model, "visual", None), "image_size", 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def load_encoder(spec: str | EncoderSpec, *, device: str | None = None, precision: str = "auto") -> Encoder:
    """Load the encoder a spec names (see :mod:`provenance.encoders.spec`)."""
    import torch

    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    dev = pick_device(device)
    prec = resolve_precision(precision, torch.device(dev).type)
    model, preprocess, tokenizer = _build_model(parsed)
    return Encoder(parsed, model, preprocess, tokenizer, device=dev, precision=prec)


def _build_model(parsed: EncoderSpec):
    """(float32 model, preprocess, tokenizer factory) for a parsed spec."""
    open_clip = import_open_clip()

    if parsed.kind == TINY:
        from .tiny import build_tiny_model

        model = build_tiny_model()
        return model, open_clip.image_transform(model.visual.image_size, is_train=False), lambda: open_clip.get_tokenizer("ViT-B-32")
    model, preprocess = _load_open_clip(parsed)
    return model, preprocess, lambda: _load_tokenizer(parsed)


def _load_tokenizer(spec: EncoderSpec):
    open_clip = import_open_clip()

    try:
        return open_clip.get_tokenizer(spec.hub or spec.arch)
    except Exception as exc:  # hub tokenizers need their config; fall back to CLIP's BPE
        log.warning("tokenizer for %s unavailable (%s); using the CLIP BPE tokenizer", spec.text, exc)
        return open_clip.get_tokenizer("ViT-B-32")


def _load_open_clip(spec: EncoderSpec):
    open_clip = import_open_clip()
    import torch

    if spec.weights_path:
        path = os.path.expanduser(spec.weights_path)
        if not os.path.isfile(path):
            raise EncoderError(f"weights file {path!r} of encoder spec {spec.text!r} does not exist")
        if not path.endswith(WEIGHT_SUFFIXES):
            raise EncoderError(
                f"weights file {path!r} has an unknown type: use .safetensors (preferred), or .pt/.pth/.bin holding a plain state dict"
            )
        try:
            with skip_weight_init():
                model, _, preprocess = open_clip.create_model_and_transforms(spec.arch, pretrained=path, weights_only=True)
        except Exception as exc:
            if "weights_only" in str(exc) or "Unpickl" in type(exc).__name__ or "Unpickl" in str(exc):
                raise EncoderError(
                    f"weights file {path!r} contains pickled objects beyond plain tensors, which provenance never loads "
                    "(it could run code). Convert it to .safetensors or a plain state dict."
                ) from None
            raise EncoderError(f"cannot load weights {path!r} into {spec.arch}: {_first_line(exc)}") from None
        return model, preprocess
    if spec.tag or spec.hub:
        try:
            with quiet_hub(), skip_weight_init():
                name, tag = (spec.hub, None) if spec.hub else (spec.arch, spec.tag)
                model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=tag, weights_only=True)
        except Exception as exc:
            cfg = open_clip.get_pretrained_cfg(spec.arch, spec.tag) if spec.tag else {}
            where = cfg.get("hf_hub") or cfg.get("url") or spec.hub
            arch = spec.arch or "ARCH"
            offline = quiet_hub.offline()
            why = "the Hugging Face hub is unreachable and they are not in the local cache" if offline else _first_line(exc)
            raise EncoderError(
                f"cannot fetch the weights of encoder {spec.text} ({why}). "
                f"Download them on a connected machine ({where}) and pass "
                f"--encoder 'open_clip:{arch}@/path/to/open_clip_model.safetensors'"
            ) from None
        return model, preprocess
    # Architecture only: seeded random weights (timing benchmarks, tests).
    with torch.random.fork_rng(devices=[]), _quiet_logs():
        torch.manual_seed(RANDOM_INIT_SEED)
        model, _, preprocess = open_clip.create_model_and_transforms(spec.arch, pretrained=None)
    return model, preprocess


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
                   "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_")


class skip_weight_init:
    """Make torch.nn.init a no-op while a model whose weights will be overwritten is built.

    Drawing random initial weights for a ViT costs about a second on 2 cores and is
    thrown away when a checkpoint is loaded (strictly: open_clip loads with
    strict=True, so every parameter is overwritten). Not thread-safe: used only
    around model construction.
    """

    def __enter__(self) -> "skip_weight_init":
        import torch.nn.init as init
        import torch.nn.modules.activation as activation

        # nn.MultiheadAttention calls the xavier_uniform_ it imported by name, not init's.
        self._saved = [(mod, name, getattr(mod, name)) for mod in (init, activation)
                       for name in _INIT_FUNCTIONS if hasattr(mod, name)]
        for mod, name, _ in self._saved:
            setattr(mod, name, _no_init)
        return self

    def __exit__(self, *exc) -> None:
        for mod, name, fn in self._saved:
            setattr(mod, name, fn)


def _no_init(tensor, *args, **kwargs):
    return tensor


class _quiet_logs:
    """open_clip logs a warning on purpose-random weights; our outputs already say 'untrained'."""

    def __enter__(self):
        self._level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        logging.getLogger().setLevel(self._level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
