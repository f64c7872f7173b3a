"""An opened index: vector search, metadata lookup, and the encoder that goes with it."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..encoders.identity import EncoderIdentity
from ..errors import ProvenanceError, UsageError
from ..paths import resolve_existing_index
from . import faiss_plan
from .store import PartReader, read_manifest


class Index:
    """A committed index. Cheap to open: FAISS and metadata are loaded on first use."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        manifest = read_manifest(self.path)
        if manifest is None:
            raise ProvenanceError(f"{self.path} holds no committed index")
        self.manifest: dict[str, Any] = manifest
        self.parts = PartReader(self.path, manifest["parts"])
        self._encoders: dict[tuple, Future] = {}
        self._encoders_lock = threading.Lock()
        self._prefetched: Future | None = None

    # -- facts -----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.manifest.get("name", self.path.name)

    @property
    def count(self) -> int:
        return int(self.manifest["count"])

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def encoder_identity(self) -> EncoderIdentity:
        return EncoderIdentity.from_dict(self.manifest["encoder"])

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}, count={self.count}, encoder={self.encoder_identity.spec!r}, faiss={self.manifest['faiss']['factory']!r})"

    # -- search ----------------------------------------------------------------
    @cached_property
    def faiss_index(self):
        import faiss

        index = faiss.read_index(str(self.path / self.manifest["faiss"]["file"]), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if self._mmap_ok() else 0)
        faiss_plan.set_search_params(index, nprobe=self.manifest["faiss"].get("nprobe"))
        return index

    def _mmap_ok(self) -> bool:
        return not self.manifest["faiss"]["factory"].startswith(("Flat", "HNSW"))

    def search(self, vectors: np.ndarray, k: int = 10, *, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest neighbours of (n, dim) query vectors: ``(scores, ids)`` arrays of shape (n, k).

        Scores are cosine similarities (vectors are unit length); ids index the
        metadata rows. Where fewer than ``k`` items exist, ids are -1.
        """
        q = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
        if q.shape[1] != self.dim:
            raise UsageError(f"query vectors have dimension {q.shape[1]}, index {self.name} has {self.dim}")
        if k < 1:
            raise UsageError("k must be at least 1")
        self._await_prefetch()
        return faiss_plan.search(self.faiss_index, self._plan, q, int(k), self.stored_vectors, nprobe=nprobe)

    @cached_property
    def _plan(self) -> faiss_plan.IndexPlan:
        return faiss_plan.IndexPlan.from_dict(self.manifest["faiss"])

    def prefetch(self) -> None:
        """Load what searches and metadata lookups need (the FAISS index, the parts' lookup copies) in a
        background thread, so that it overlaps other start-up work such as loading the model."""
        if self._prefetched is None:
            fut: Future = Future()
            self._prefetched = fut

            def run() -> None:
                try:
                    self.faiss_index
                    self.stored_vectors
                    self.parts.prefetch()
                except BaseException:  # the caller's own access reports it, where it belongs
                    pass
                fut.set_result(None)

            threading.Thread(target=run, name="index-prefetch", daemon=True).start()

    def _await_prefetch(self) -> None:
        if self._prefetched is not None:
            self._prefetched.result()

    @cached_property
    def stored_vectors(self):
        """The float32 vectors on disk (memory-mapped), for exact re-ranking of compressed-index shortlists."""
        from .exact import StoredVectors

        return StoredVectors(self.parts)

    # -- metadata ----------------------------------------------------------------
    def rows(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Metadata rows by id, read from the parts' memory-mapped lookup copies (or, for parts without
        one, only the Parquet row groups that hold them)."""
        self._await_prefetch()
        return self.parts.rows(ids)

    def metadata(self, columns: Sequence[str] | None = None):
        """All metadata as a pyarrow Table (id order)."""
        return self.parts.table(columns)

    def vectors(self, ids: Sequence[int] | None = None) -> np.ndarray:
        if ids is None:
            return np.concatenate(list(self.parts.iter_vectors()))
        return self.parts.vectors_for(ids)

    # -- encoder -------------------------------------------------------------------
    def encoder(self, spec: str | None = None, *, device: str | None = None, precision: str = "auto"):
        """The encoder queries must use: the index's own, or ``spec`` if it has the same weights."""

        def load():
            from ..encoders import load_encoder

            enc = load_encoder(spec or self.encoder_identity.spec, device=device, precision=precision)
            self.encoder_identity.check_compatible(enc.identity, f"index {self.name!r}")
            return enc

        return self._once((spec, device, precision), load)

    def image_encoder(self, spec: str | None = None, *, device: str | None = None, precision: str = "auto",
                      engine: str | None = None):
        """The encoder image queries use: with ``engine="auto"``, the compiled ONNX copy of the index's
        image tower for float32 queries on the CPU (exported on first use, cached per weights; see
        :mod:`provenance.encoders.onnx_engine`), else the torch model of :meth:`encoder`."""
        from ..encoders import onnx_engine

        fingerprint = self.encoder_identity.fingerprint
        if not fingerprint or not onnx_engine.wanted(engine, spec=spec, device=device, precision=precision):
            return self.encoder(spec, device=device, precision=precision)

        def load():
            compiled = onnx_engine.load(fingerprint)
            if compiled is not None:
                return compiled
            enc = self.encoder(spec, device=device, precision=precision)
            if onnx_engine.status(fingerprint)["state"] != "failed":
                onnx_engine.export(enc)  # (re)made for the next trace; this one has torch loaded already
            return enc

        return self._once(("onnx", fingerprint), load)

    def _once(self, key: tuple, load):
        # One load per key even when called from several threads (trace loads the model in the
        # background while it reads the query images): later callers wait for the first.
        with self._encoders_lock:
            future = self._encoders.get(key)
            owner = future is None
            if owner:
                future = self._encoders[key] = Future()
        if owner:
            try:
                value = load()
            except BaseException as exc:
                with self._encoders_lock:
                    del self._encoders[key]
                future.set_exception(exc)
                raise
            future.set_result(value)
        return future.result()

    # -- tracing ---------------------------------------------------------------------
    def trace(self, images: Sequence, k: int = 20, **kwargs):
        """Trace generated images (paths or PIL images) to their nearest training items, with each
        result's nearest-neighbour source composition and the signals read off the image (OCR
        watermark, faces) as ``provenance trace`` gives them; ``attribution=False``, ``ocr=False``,
        ``faces=False`` turn those off. Other options: see :func:`provenance.trace.trace_images`."""
        from ..attribute.hooks import with_attribution
        from ..trace import trace_images

        return trace_images(self, images, k=k, **with_attribution(self, kwargs))

    def trace_text(self, texts: Sequence[str] | str, k: int = 20, **kwargs):
        from ..attribute.hooks import with_attribution
        from ..trace import trace_texts

        return trace_texts(self, [texts] if isinstance(texts, str) else list(texts), k=k, **with_attribution(self, kwargs, text=True))


def open_index(ref: str | os.PathLike | None = None) -> Index:
    """Open an index by name (under ``./indexes`` or ``$PROVENANCE_INDEXES``) or path; sharded ones too."""
    path = resolve_existing_index(ref)
    if (read_manifest(path) or {}).get("kind") == "sharded":
        from .sharded import ShardedIndex

        return ShardedIndex(path)  # type: ignore[return-value]
    return Index(path)
