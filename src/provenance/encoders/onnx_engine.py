"""A compiled copy of an encoder's image tower for queries: ONNX Runtime instead of torch.

A short trace spends most of its time before the first query is embedded: importing torch
(2-3 s on a 2-core CPU), importing open_clip (~1.5 s) and building the model. ONNX Runtime
imports in ~0.15 s and loads an exported ViT-B-32 in under a second, with the same float32
embeddings (cosine >= 0.99999 to torch's, checked). So the first float32 trace of an index exports
its model's image tower to ONNX once, into a cache keyed by the weights fingerprint the index
records, and later traces of any index built with those weights use it without importing torch.

Each export is checked against the torch model on a fixed probe input before it is kept, and
every load re-runs the probe against the embedding stored at export time, so a damaged file or
an ONNX Runtime that computes differently falls back to torch instead of giving other vectors.
Only float32 on the CPU: reduced precision (bf16 on CPUs with bf16 units, fp16 on CUDA) keeps
torch, which is faster there for more than a handful of queries.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import EncoderError, UsageError
from .identity import EncoderIdentity

log = logging.getLogger(__name__)

FORMAT = 1
ENGINES = ("auto", "onnx", "torch")
# float32 in both engines; measured 0.9999998 for ViT-B-32 (only summation order differs).
MIN_COSINE = 0.99999
ENGINE_ENV = "PROVENANCE_ENGINE"
CACHE_ENV = "PROVENANCE_CACHE"


def cache_dir() -> Path:
    """``$PROVENANCE_CACHE/onnx``, else ``$XDG_CACHE_HOME/provenance/onnx`` (``~/.cache/provenance/onnx``)."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "provenance")
    return Path(root) / "onnx"


def _paths(fingerprint: str) -> tuple[Path, Path]:
    d = cache_dir()
    return d / f"{fingerprint}.onnx", d / f"{fingerprint}.json"


def gpu_present() -> bool:
    """A GPU torch could use, judged without importing torch (its import is what this module avoids)."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/kfd"))


def wanted(engine: str | None, *, spec: str | None, device: str | None, precision: str) -> bool:
    """Whether image queries should use the compiled copy.

    ``auto``: when they run in float32 on the CPU with the index's own encoder (an explicit
    ``--encoder`` names weights to load, which only torch can check against the index).
    ``engine`` None reads ``$PROVENANCE_ENGINE`` (default ``auto``)."""
    from .precision import resolve_precision

    engine = engine or os.environ.get(ENGINE_ENV) or "auto"
    if engine not in ENGINES:
        raise UsageError(f"unknown query engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "torch":
        return False
    on_cpu = device == "cpu" or (device in (None, "auto") and not gpu_present())
    fp32 = on_cpu and resolve_precision(precision, "cpu") == "fp32"
    if engine == "onnx":
        if not fp32:
            raise UsageError("the onnx query engine runs float32 on the CPU: use --precision fp32 (and no --device cuda), "
                             "or --engine torch")
        return True
    return fp32 and spec is None


def compiled_for(enc, engine: str | None = None, *, open_session: bool = True) -> "OnnxImageEncoder | None":
    """The compiled copy of a loaded torch :class:`Encoder`'s image tower, exported now if need be, when
    ``engine`` allows it and ``enc`` runs float32 on the CPU (where ONNX Runtime also embeds faster:
    60 against 67-76 ms per ViT-B-32 image on a 2-core AMD EPYC); else None. ``open_session=False``
    only makes sure the cache holds it, for later traces (builds of precomputed embeddings)."""
    engine = engine or os.environ.get(ENGINE_ENV) or "auto"
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    exact = enc.device == "cpu" and enc.precision == "fp32" and not enc._pending_precision and bool(enc.fingerprint)
    if engine == "onnx" and not exact:
        raise UsageError("the onnx engine runs float32 on the CPU: use --precision fp32 (and no --device cuda), or --engine torch")
    if engine == "torch" or not exact:
        return None
    state = status(enc.fingerprint)["state"]
    if state == "failed" or (state == "compiled" and not open_session):
        return None
    if state == "compiled":
        compiled = load(enc.fingerprint)
        if compiled is not None:
            return compiled
    export(enc)  # not compiled yet, or damaged: (re)made from the model at hand
    return load(enc.fingerprint) if open_session else None


def probe_pixels(crop: tuple[int, int]) -> np.ndarray:
    """A fixed (1, 3, H, W) input in the range of normalised images, made from a formula (no RNG)."""
    h, w = crop
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    channels = [np.sin(x / 7.0 + c) * np.cos(y / 11.0 - 2 * c) + 0.5 * np.sin((x + y) / 23.0 * (c + 1)) for c in range(3)]
    return np.stack(channels)[None].astype(np.float32) * np.float32(1.5)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "open_clip_torch", "onnx", "onnxruntime"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = ""
    return out


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # ORT's own warnings about graph rewrites are not the user's business
    opts.intra_op_num_threads = os.cpu_count() or 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


class OnnxImageEncoder:
    """Image queries through ONNX Runtime: the :class:`~provenance.encoders.model.Encoder` interface
    for images (``embed_images``, ``embed_pixels``, ``identity``, ``dim``), float32 on the CPU."""

    engine = "onnx"
    device = "cpu"
    precision = "fp32"
    precision_check = None
    preprocess = None  # images go through ``fast`` (the model's exact resize, crop and normalisation)

    def __init__(self, path: Path, meta: dict[str, Any], session):
        from ..embed.preprocess import FastPreprocess

        self.path = path
        self.meta = meta
        self._session = session
        self.fast = FastPreprocess.from_dict(meta["preprocess"])
        self.dim = int(meta["identity"]["dim"])
        self.fingerprint = meta["identity"]["fingerprint"]
        self.image_size = int(meta["image_size"])

    @property
    def identity(self) -> EncoderIdentity:
        return EncoderIdentity.from_dict(self.meta["identity"])

    @property
    def trained(self) -> bool:
        return self.identity.trained

    def embed_pixels(self, pixels) -> np.ndarray:
        """Embed a normalised (n, 3, H, W) float32 array; returns (n, dim) float32, unit norm."""
        x = np.ascontiguousarray(np.asarray(pixels, dtype=np.float32))
        out = self._session.run(None, {"pixels": x})[0]
        return np.ascontiguousarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=np.float32)

    def embed_images(self, images: Sequence, batch_size: int = 64) -> np.ndarray:
        """Embed PIL images with the model's exact resize, crop and normalisation (see embed.preprocess)."""
        from ..embed.preprocess import embed_ahead

        fast = self.fast
        return embed_ahead(images, batch_size, lambda im: fast.pixels(im.convert("RGB")),
                           lambda prepared: self.embed_pixels(fast.normalise_array(np.stack(prepared))), self.dim)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        raise EncoderError("the compiled query encoder embeds images only; text queries load the torch model")

    def __repr__(self) -> str:
        return f"OnnxImageEncoder({self.identity.spec!r}, dim={self.dim}, path={str(self.path)!r})"


def load(fingerprint: str) -> OnnxImageEncoder | None:
    """The cached compiled image tower for these weights, or None (not exported yet, unusable, or
    no longer matching what torch gave at export time)."""
    onnx_path, meta_path = _paths(fingerprint)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT or (meta.get("identity") or {}).get("fingerprint") != fingerprint or meta.get("failed"):
        return None
    try:
        session = _session(onnx_path)
        probe = probe_pixels(tuple(meta["preprocess"]["crop"]))
        got = session.run(None, {"pixels": probe})[0]
        worst = _min_cosine(got, np.asarray(meta["probe_embedding"], dtype=np.float32))
    except Exception as exc:  # a damaged or foreign file: torch still works
        log.warning("compiled query encoder %s unusable (%s: %s); using torch", onnx_path, type(exc).__name__, str(exc)[:200])
        return None
    if worst < MIN_COSINE:
        log.warning("compiled query encoder %s differs from its export check (cosine %.6f); using torch", onnx_path, worst)
        return None
    return OnnxImageEncoder(onnx_path, meta, session)


def status(fingerprint: str | None) -> dict[str, Any]:
    """What the cache holds for these weights (for ``provenance info``): compiled, failed or not yet."""
    if not fingerprint:
        return {"state": "unavailable", "why": "the index does not record its weights' fingerprint"}
    onnx_path, meta_path = _paths(fingerprint)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return {"state": "not compiled", "why": "the first float32 trace on the CPU compiles it", "path": str(onnx_path)}
    if meta.get("failed"):
        if meta.get("versions") != _versions():  # other packages now: worth another try
            return {"state": "not compiled", "why": "an export with other package versions failed; the next one retries",
                    "path": str(onnx_path)}
        return {"state": "failed", "why": meta["failed"], "path": str(onnx_path)}
    return {"state": "compiled", "path": str(onnx_path), "created": meta.get("created"),
            "min_cosine_vs_torch": meta.get("min_cosine_vs_torch")}


def export(enc) -> Path | None:
    """Export ``enc``'s image tower (a float32 CPU :class:`Encoder`) to the cache and check it.

    Returns the ONNX file, or None when this model cannot be compiled (non-standard preprocessing,
    an operator the exporter lacks, no disk space): the caller keeps using torch."""
    fast = enc.fast
    if fast is None or not enc.fingerprint or enc.precision != "fp32" or enc.device != "cpu" or enc._pending_precision:
        return None
    onnx_path, meta_path = _paths(enc.fingerprint)
    t0 = time.time()
    try:
        onnx_path.parent.mkdir(parents=True, exist_ok=True)
        checked = _export_checked(enc, fast, onnx_path)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        log.warning("could not compile the query encoder of %s (%s); traces keep using torch", enc.spec.text, reason)
        _write_meta(meta_path, {"format": FORMAT, "identity": enc.identity.to_dict(), "failed": reason, "versions": _versions()})
        return None
    meta = {
        "format": FORMAT,
        "identity": enc.identity.to_dict(),
        "image_size": enc.image_size,
        "preprocess": fast.to_dict(),
        "probe_embedding": checked["probe"].tolist(),
        "min_cosine_vs_torch": checked["min_cosine"],
        "export_seconds": round(time.time() - t0, 2),
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    # The JSON is written last: its presence says the ONNX file beside it is complete and checked.
    _write_meta(meta_path, meta)
    return onnx_path


def _export_checked(enc, fast, onnx_path: Path) -> dict[str, Any]:
    import shutil
    import tempfile

    import onnx
    import torch

    class Tower(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return self.model.encode_image(pixels)

    probe = probe_pixels(fast.crop)
    batch = np.concatenate([probe, probe[:, :, ::-1].copy()])  # two items, so the batch axis is traced as dynamic
    reference = enc.embed_pixels(torch.from_numpy(batch))
    weights = onnx_path.with_suffix(".weights")
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=onnx_path.parent))
    try:
        traced = work / "traced.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings
            # Not under no_grad: there nn.MultiheadAttention takes its fused fast path, which has no ONNX form.
            torch.onnx.export(Tower(enc._model).eval(), (torch.from_numpy(batch),), str(traced), input_names=["pixels"],
                              output_names=["features"], dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}},
                              opset_version=17, dynamo=False)
        # Weights in a file of their own: ONNX Runtime maps it instead of parsing them out of the graph's
        # protobuf, which halves session creation (ViT-B-32: 1.2 -> 0.6 s).
        graph = work / onnx_path.name
        onnx.save_model(onnx.load(str(traced)), str(graph), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=weights.name, size_threshold=1024)
        got = _session(graph).run(None, {"pixels": batch})[0]
        worst = _min_cosine(got, reference)
        if worst < MIN_COSINE:
            raise EncoderError(f"ONNX embeddings differ from torch's (cosine {worst:.6f})")
        for f in (work / weights.name, graph):  # the graph last: it names the weights file
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(work / weights.name, weights)
        os.replace(graph, onnx_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"probe": reference[:1], "min_cosine": round(worst, 8)}


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    from ..util.atomic import atomic_write_json

    try:
        atomic_write_json(path, meta)
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)
