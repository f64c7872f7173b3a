"""A sharded index: several independently built indexes searched as one.

Beyond one machine, shards are built separately (each a normal ``provenance
index``, e.g. one per range of clip-retrieval embedding files, on different
machines) and then listed in a small manifest::

    provenance index laion --shards laion-000,laion-001,laion-002

A search fans out to every shard and merges the per-shard top-k by score.
Global ids are positions in the concatenation of the shards in listed order
(shard i's local id + the counts of the shards before it), so ``search`` ids
index ``metadata()`` rows just as for a single index. Shards must share one
encoder (same weights). If a shard other than the last changes size, ids would
shift, so opening refuses until the sharded manifest is re-created.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..encoders.identity import EncoderIdentity
from ..errors import ProvenanceError, UsageError
from ..paths import index_dir_for, resolve_existing_index
from ..util.atomic import atomic_write_json
from .index import Index
from .layout import FORMAT, FORMAT_VERSION, MANIFEST
from .store import concat_tables, read_manifest

KIND = "sharded"


def create_sharded(name: str | os.PathLike, shards: Sequence[str | os.PathLike], *, overwrite: bool = False) -> dict[str, Any]:
    """Write the manifest of a sharded index ``name`` over existing indexes ``shards``; returns it."""
    from .index import Index

    if len(shards) < 1:
        raise UsageError("--shards needs at least one index")
    directory = index_dir_for(name)
    existing = read_manifest(directory) if directory.exists() else None
    if existing is not None and existing.get("kind") != KIND:
        raise UsageError(f"{directory} already holds a built index ({existing.get('count')} items); choose another name")
    if existing is not None and not overwrite:
        raise UsageError(f"sharded index {directory} exists: add --overwrite to replace its list of shards")
    paths = [resolve_existing_index(s) for s in shards]
    if len({p.resolve() for p in paths}) != len(paths):
        raise UsageError("the same index is listed twice in --shards")
    if directory.resolve() in {p.resolve() for p in paths}:
        raise UsageError("a sharded index cannot list itself as a shard")
    opened = []
    for p in paths:
        m = read_manifest(p)
        if m.get("kind") == KIND:
            raise UsageError(f"{p} is itself a sharded index: list its shards instead")
        opened.append(Index(p))
    first = opened[0]
    for ix in opened[1:]:
        if ix.dim != first.dim:
            raise UsageError(f"shard {ix.name} has dimension {ix.dim}, shard {first.name} {first.dim}")
        first.encoder_identity.check_compatible(ix.encoder_identity, f"shard {ix.name!r} (shards must share one encoder)")
    directory.mkdir(parents=True, exist_ok=True)
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "name": directory.name,
        "created": (existing or {}).get("created", now),
        "updated": now,
        "shards": [{"path": _portable(p, directory), "name": ix.name, "count": ix.count,
                    "generation": ix.manifest.get("generation"), "faiss": ix.manifest["faiss"]["factory"]}
                   for p, ix in zip(paths, opened)],
        "count": sum(ix.count for ix in opened),
        "dim": first.dim,
        "metric": "inner_product",
        "encoder": first.manifest["encoder"],
    }
    atomic_write_json(directory / MANIFEST, manifest)
    return manifest


def _portable(shard: Path, directory: Path) -> str:
    """Shard paths relative to the sharded index when they share a tree (so the tree can move), else absolute."""
    try:
        rel = os.path.relpath(shard.resolve(), directory.resolve())
    except ValueError:  # other drive
        return str(shard.resolve())
    return rel if not rel.startswith(os.pardir * 3) else str(shard.resolve())


class ShardedIndex:
    """Search, metadata and tracing over several indexes, with the :class:`~provenance.index.Index` interface."""

    def __init__(self, path: str | os.PathLike):
        from .index import Index

        self.path = Path(path)
        own = read_manifest(self.path)
        if own is None or own.get("kind") != KIND:
            raise ProvenanceError(f"{self.path} is not a sharded index")
        self.shards: list[Index] = []
        for entry in own["shards"]:
            p = Path(entry["path"])
            p = p if p.is_absolute() else (self.path / p)
            if read_manifest(p) is None:
                raise ProvenanceError(f"shard {entry['name']!r} of sharded index {self.path.name} is missing ({p}); "
                                      "rebuild it or re-create the sharded index without it")
            self.shards.append(Index(p))
        counts = [ix.count for ix in self.shards]
        for i, (entry, ix) in enumerate(zip(own["shards"], self.shards)):
            last = i == len(self.shards) - 1
            if ix.count != entry["count"] and not (last and ix.count > entry["count"]):
                raise ProvenanceError(
                    f"shard {entry['name']!r} changed from {entry['count']} to {ix.count} items since sharded index "
                    f"{self.path.name} was made, which would shift the ids of later shards; re-create it with "
                    f"`provenance index {self.path} --shards ... --overwrite`")
        first = self.shards[0]
        for ix in self.shards[1:]:
            first.encoder_identity.check_compatible(ix.encoder_identity, f"shard {ix.name!r}")
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.manifest = self._describe(own)

    def _describe(self, own: dict[str, Any]) -> dict[str, Any]:
        """The sharded manifest plus what commands read from a single index's manifest."""
        ms = [ix.manifest for ix in self.shards]
        factories = sorted({m["faiss"]["factory"] for m in ms})
        attributions = [m.get("attribution") for m in ms]
        return {
            **own,
            "count": int(self.offsets[-1]),
            "faiss": {"factory": f"{len(ms)} shards: " + " | ".join(factories), "nprobe": None},
            "precision": ms[0].get("precision"),
            "sources": [{**s, "source": f"{ix.name}: {s['source']}"} for ix, m in zip(self.shards, ms) for s in m.get("sources", [])],
            "attribution": attributions[0] if all(a == attributions[0] for a in attributions) else None,
            "generation": ":".join(str(m.get("generation")) for m in ms),
            "build_id": ":".join(str(m.get("build_id")) for m in ms),
        }

    # -- facts ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.manifest.get("name", self.path.name)

    @property
    def count(self) -> int:
        return int(self.offsets[-1])

    @property
    def dim(self) -> int:
        return self.shards[0].dim

    @property
    def encoder_identity(self) -> EncoderIdentity:
        return self.shards[0].encoder_identity

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"ShardedIndex({str(self.path)!r}, shards={len(self.shards)}, count={self.count})"

    def _split(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        g = np.asarray(ids, dtype=np.int64).ravel()
        shard = np.searchsorted(self.offsets, g, side="right") - 1
        if len(g) and (g.min() < 0 or g.max() >= self.count):
            raise IndexError(f"id out of range 0..{self.count - 1}")
        return shard, g - self.offsets[shard]

    # -- search -----------------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int = 10, *, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every shard's top ``k``, merged by score: ``(scores, ids)`` with global ids."""
        q = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
        if q.shape[1] != self.dim:
            raise UsageError(f"query vectors have dimension {q.shape[1]}, index {self.name} has {self.dim}")
        if k < 1:
            raise UsageError("k must be at least 1")

        def one(i: int):
            s, ids = self.shards[i].search(q, k, nprobe=nprobe)
            s = np.where(ids >= 0, s, -np.inf).astype(np.float32)
            return s, np.where(ids >= 0, ids + self.offsets[i], -1)

        workers = min(len(self.shards), os.cpu_count() or 1)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:  # FAISS and numpy release the GIL
                parts = list(pool.map(one, range(len(self.shards))))
        else:
            parts = [one(i) for i in range(len(self.shards))]
        scores = np.concatenate([p[0] for p in parts], axis=1)
        ids = np.concatenate([p[1] for p in parts], axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top_s = np.take_along_axis(scores, order, axis=1)
        top_i = np.take_along_axis(ids, order, axis=1)
        if top_s.shape[1] < k:  # fewer items than k in all shards together
            pad = k - top_s.shape[1]
            top_s = np.pad(top_s, ((0, 0), (0, pad)), constant_values=-np.inf)
            top_i = np.pad(top_i, ((0, 0), (0, pad)), constant_values=-1)
        return top_s, np.where(np.isfinite(top_s), top_i, -1)

    # -- metadata ----------------------------------------------------------------------
    def rows(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Metadata rows by global id (``id`` rewritten to the global id, ``index_shard`` added)."""
        shard, local = self._split(ids)
        out: list[dict[str, Any] | None] = [None] * len(local)
        for s in np.unique(shard):
            where = np.flatnonzero(shard == s)
            for j, row in zip(where, self.shards[s].rows(local[where].tolist())):
                row = dict(row)
                row["id"] = int(local[j] + self.offsets[s])
                row["index_shard"] = self.shards[s].name
                out[j] = row
        return out  # type: ignore[return-value]

    def metadata(self, columns: Sequence[str] | None = None):
        """All metadata as one pyarrow Table in global id order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        tables = []
        for off, ix in zip(self.offsets, self.shards):
            t = ix.metadata(columns)
            if "id" in t.column_names:
                t = t.set_column(t.column_names.index("id"), "id", pc.add(t.column("id").cast(pa.int64()), int(off)))
            tables.append(t)
        return concat_tables(tables)

    def vectors(self, ids: Sequence[int] | None = None) -> np.ndarray:
        if ids is None:
            return np.concatenate([ix.vectors() for ix in self.shards])
        shard, local = self._split(ids)
        out = np.empty((len(local), self.dim), dtype=np.float32)
        for s in np.unique(shard):
            where = np.flatnonzero(shard == s)
            out[where] = self.shards[s].vectors(local[where].tolist())
        return out

    # -- encoder and tracing ------------------------------------------------------------
    def encoder(self, spec: str | None = None, *, device: str | None = None, precision: str = "auto"):
        return self.shards[0].encoder(spec, device=device, precision=precision)

    def image_encoder(self, spec: str | None = None, *, device: str | None = None, precision: str = "auto",
                      engine: str | None = None):
        return self.shards[0].image_encoder(spec, device=device, precision=precision, engine=engine)

    # The same tracing as a single index: it only uses encoder(), image_encoder(), search(), rows() and manifest.
    trace = Index.trace
    trace_text = Index.trace_text
