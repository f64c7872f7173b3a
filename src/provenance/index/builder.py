"""Streaming, journaled, resumable index builds.

Items flow source -> embed -> part files. Every ``commit_every`` items a part
(vectors ``.npy`` + metadata ``.parquet``) is written under a temporary name,
renamed, and then recorded in the journal; the journal line is the commit point
of that part. Once every unit of every source is done, the FAISS index is built
from the parts and ``manifest.json`` is replaced atomically: the commit point of
the whole build. A build killed anywhere and re-run with the same command
resumes from the journal and ends with exactly one copy of every good item.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from ..errors import DISK_FULL_ERRNOS, DiskFull, EncoderError, IngestError, StrictModeError, UsageError
from ..ingest.items import BASE_COLUMNS, Block, Item, Skip
from ..paths import index_dir_for
from ..util.atomic import atomic_path, atomic_write_bytes, atomic_write_json
from ..util.failpoints import failpoint
from . import faiss_plan
from .build_state import BuildState, load_state
from .journal import Journal
from .keys import KeySet, key_hash
from .layout import FORMAT, FORMAT_VERSION, LOCK, LOOKUP_SUFFIX, MANIFEST, PARTS_DIR, SKIPS, index_file, part_name
from .lookup import write_lookup
from .lock import WriteLock
from .store import PartReader

ROW_GROUP = 4096
DEFAULT_ENCODER = "open_clip:ViT-B-32/laion2b_s34b_b79k"
NEW, ALREADY, RESUMED, DUPLICATE = range(4)  # what becomes of an item's key (see _Builder._key_fate)
RESERVED = set(BASE_COLUMNS) | {"label", "selfie", "evidence", "label_confidence", "ingest_note"}


class Labeler(Protocol):
    """Source attribution at build time (implemented in :mod:`provenance.attribute`).

    ``prepare`` is called once the build's encoder is known (``encoder`` is None for
    precomputed embeddings whose model could not be loaded); ``__call__`` adds the
    attribution fields to each metadata row in place, given the rows' unit vectors;
    ``describe`` is stored in the manifest under ``attribution``.
    """

    def prepare(self, identity: dict[str, Any], encoder: Any | None) -> None: ...

    def __call__(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    # Optional: ``submit(rows, vectors)`` starts labelling and returns a function that waits until the
    # rows' fields are in place (the builder reads the next chunk meanwhile); ``submit_table(table,
    # vectors)`` does the same for rows given as an Arrow table (precomputed embeddings), its function
    # returning the fields as columns (name -> values); ``close()``, called when the build ends,
    # releases what the labeler started.


@dataclass
class BuildOptions:
    encoder: str | None = None
    fmt: str = "auto"
    append: bool = False
    overwrite: bool = False
    strict: bool = False
    index_factory: str | None = None
    memory_budget: int | None = None
    target_recall: float = 0.95
    batch_size: int = 64
    commit_every: int = 2048
    precision: str = "auto"
    device: str | None = None
    engine: str | None = None  # what embeds images: auto / onnx / torch (see encoders.onnx_engine)
    workers: int | None = None
    hf: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


@dataclass
class BuildReport:
    index: str
    count: int
    added: int
    already_indexed: int
    skipped: int
    skip_reasons: dict[str, int]
    skipped_examples: list[dict[str, str]]
    sources: list[dict[str, Any]]
    encoder: dict[str, Any]
    faiss: dict[str, Any]
    precision: str | None
    seconds: float
    embedding_engine: str | None = None  # what embedded the images: "onnx" or "torch"; None for precomputed
    resumed: bool = False
    up_to_date: bool = False
    skips_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Progress:
    def __init__(self, enabled: bool, total: int | None, desc: str):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="img", dynamic_ncols=True, leave=False)

    def update(self, n: int = 1) -> None:
        if self.bar:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def build_index(
    index: str | os.PathLike,
    sources: str | Sequence[str],
    options: BuildOptions | None = None,
    *,
    labeler: Labeler | None = None,
    analyzer: Callable | None = None,
    **kwargs: Any,
) -> BuildReport:
    """Build (or resume, or append to) the index ``index`` from ``sources``.

    ``kwargs`` override fields of :class:`BuildOptions`, so notebooks can write
    ``build_index("my", "shards/", encoder="tiny")``.
    """
    opts = options or BuildOptions()
    for k, v in kwargs.items():
        if not hasattr(opts, k):
            raise TypeError(f"build_index() got an unexpected option {k!r}")
        setattr(opts, k, v)
    srcs = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not srcs:
        raise UsageError("no source given: pass --from SOURCE")
    directory = index_dir_for(index)
    with WriteLock(directory):
        try:
            return _Builder(directory, [os.fspath(s) for s in srcs], opts, labeler, analyzer).run()
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise DiskFull(
                    f"no space left on the device of {directory} (writing {exc.filename or 'the index'}): free some space, "
                    "or build elsewhere (a directory path as NAME, or $PROVENANCE_INDEXES), and re-run the same command; "
                    "the build resumes from its last committed part") from None
            raise
        finally:
            if labeler is not None and hasattr(labeler, "close"):
                labeler.close()


class _Builder:
    def __init__(self, directory: Path, sources: list[str], opts: BuildOptions, labeler, analyzer):
        self.dir = directory
        self.source_args = sources
        self.opts = opts
        self.labeler = labeler
        self.analyzer = analyzer
        self.journal = Journal(directory)
        self.t0 = time.time()
        self._unfinished: Callable[[], None] | None = None  # the part started but not yet journaled
        self._unfinished_count = 0

    # -- setup ---------------------------------------------------------------
    def run(self) -> BuildReport:
        if self.opts.overwrite:
            _wipe(self.dir)
        state = load_state(self.dir)
        from ..ingest import open_source

        # Sources first: a mistyped path should fail before a model is loaded.
        sources = [open_source(s, self.opts.fmt, **self.opts.hf) for s in self.source_args]
        self._all_precomputed = all(src.precomputed for src in sources)
        identity, encoder = self._encoder(state)
        self.identity = identity
        for src in sources:
            if src.precomputed:
                src.dim = int(identity["dim"])
        for src in sources:
            if src.precomputed is False and encoder is None:
                encoder = self._load_encoder(identity["spec"])
        self.encoder = encoder
        # Images go through the compiled ONNX copy of the image tower where it is exact and faster
        # (float32 on the CPU); the torch encoder stays for what needs it (fingerprint, zero-shot text).
        self.embedder = self._embedder(encoder)
        self.sources = sources
        self._label_fields: list[str] = []
        if self.labeler is not None:
            self.labeler.prepare(identity, encoder)
            self._label_fields = list(self.labeler.describe().get("fields") or [])
        units = [(src, u) for src in sources for u in src.units()]
        todo = [(src, u) for src, u in units if u.key not in state.done_units]
        resumed = state.has_pending
        if state.manifest and not state.has_pending:
            if not todo:
                return self._report(state, state.manifest, added=0, already=0, skips=[], up_to_date=True)
            if not self.opts.append:
                raise UsageError(
                    f"index {self.dir} already exists ({state.manifest['count']} items). "
                    "Use --append to add these sources to it, or --overwrite to rebuild it from scratch."
                )
        build_id = state.begin["build_id"] if state.begin else uuid.uuid4().hex
        self.journal.append({
            "op": "begin", "build_id": build_id, "time": _now(), "pid": os.getpid(),
            "sources": [s.text for s in sources], "encoder": identity, "resume": resumed,
        })
        self.build_id = build_id
        self.state = state
        self.committed_keys = KeySet.from_parts(self.dir, state.committed_parts)
        # Keys in parts an interrupted attempt of this build wrote, all and per unit: a unit re-read on
        # resume meets its own rows again (skipped quietly), but a key of another unit is a duplicate.
        by_unit: dict[str, list[dict]] = {}
        for p in state.pending_parts:
            by_unit.setdefault(p.get("unit", ""), []).append(p)
        self.pending_by_unit = {u: KeySet.from_parts(self.dir, ps) for u, ps in by_unit.items()}
        self.pending_keys = KeySet.union(self.pending_by_unit.values())
        self.seen: set[int] = set()
        added = already = 0
        hint = self._count_hint(sources, todo, done_any=len(todo) < len(units))
        _check_space(self.dir, hint, int(identity["dim"]))
        bar = _Progress(self.opts.progress, hint, f"indexing {self.dir.name}")
        try:
            for src, unit in todo:
                a, b = self._run_unit(src, unit, bar)
                added += a
                already += b
            self._drain()
        finally:
            bar.close()
        state = load_state(self.dir)  # re-read: the parts written above are now pending
        skips = self._build_skips(state)
        if self.opts.strict and skips:
            reasons = Counter(s["reason"] for s in skips)
            raise StrictModeError(
                f"--strict: {len(skips)} input item(s) skipped ({_fmt_reasons(reasons)}); nothing was committed. "
                f"First: {skips[0]['ref']} ({skips[0]['reason']}). Fix the inputs or drop --strict (the build resumes)."
            )
        if not state.pending_parts:
            if not state.manifest or already == 0:
                reasons = Counter()
                for s in skips:
                    reasons[s["reason"]] += int(s.get("count", 1))
                detail = f": all {sum(reasons.values())} input(s) skipped ({_fmt_reasons(reasons)})" if skips else ": the source holds no items"
                raise IngestError(f"nothing to index from {', '.join(self.source_args)}{detail}")
            # Everything given is already indexed: close this build without a new generation.
            self.journal.append({"op": "commit", "build_id": self.build_id, "generation": state.manifest["generation"], "count": state.committed_count, "time": _now(), "nothing_new": True})
            return self._report(state, state.manifest, added=0, already=already, skips=skips, resumed=resumed)
        added = sum(int(p["count"]) for p in state.pending_parts)  # this build's, across interrupted attempts
        manifest = self._finalize(state, skips)
        return self._report(state, manifest, added=added, already=already, skips=skips, resumed=resumed)

    def _count_hint(self, sources, todo, done_any: bool) -> int | None:
        """Items to expect, for the progress bar; None when only reading everything would tell."""
        sizes = [u.size_hint for _, u in todo]
        if all(s is not None for s in sizes):
            return int(sum(sizes))
        if len(sources) == 1 and not done_any:
            try:
                return sources[0].count_hint()
            except Exception:
                return None
        return None

    def _embedder(self, encoder):
        if encoder is None:
            return None
        from ..encoders import onnx_engine

        # Precomputed embeddings need no image model here, but traces of the index will: the model is
        # loaded anyway (for its fingerprint), so the compiled copy is made now, not at the first trace.
        compiled = onnx_engine.compiled_for(encoder, self.opts.engine, open_session=not self._all_precomputed)
        return compiled or encoder

    def _load_encoder(self, spec: str):
        from ..encoders import load_encoder

        return load_encoder(spec, device=self.opts.device, precision=self.opts.precision)

    def _encoder(self, state: BuildState):
        """The encoder identity this build uses, and the loaded encoder when one was needed to know it."""
        from ..encoders import EncoderIdentity, parse_spec

        existing = (state.manifest or {}).get("encoder") or (state.begin or {}).get("encoder")
        requested = self.opts.encoder
        if existing and not requested:
            return existing, None
        spec = requested or DEFAULT_ENCODER
        parsed = parse_spec(spec)
        try:
            enc = self._load_encoder(spec)
            identity = enc.identity.to_dict()
        except EncoderError:
            if not self._all_precomputed:
                raise
            # Precomputed embeddings need no model: record what the user says made them.
            enc = None
            identity = EncoderIdentity(spec=parsed.text, model_id=parsed.model_id, dim=_spec_dim(parsed), fingerprint=None, trained=parsed.has_trained_weights).to_dict()
        if existing:
            EncoderIdentity.from_dict(existing).check_compatible(EncoderIdentity.from_dict(identity), f"index {self.dir.name}")
            identity = existing
        return identity, enc

    # -- ingest ------------------------------------------------------------------
    def _run_unit(self, src, unit, bar) -> tuple[int, int]:
        added = already = 0
        chunk: list[Item] | list[Block] = []  # one kind at a time
        rows_in_chunk = 0
        skips: list[Skip] = []
        limit = self.opts.commit_every

        def commit():
            nonlocal chunk, skips, added, rows_in_chunk
            added += self._commit_chunk(src, unit.key, chunk, skips)
            bar.update(rows_in_chunk)
            chunk, skips, rows_in_chunk = [], [], 0

        for entry in unit.open():
            if isinstance(entry, Skip):
                skips.append(entry)
                bar.update(entry.count)
                continue
            if isinstance(entry, Block):
                if chunk and isinstance(chunk[0], Item):
                    commit()
                block, old = self._new_rows(entry, unit.key, skips)
                already += old
                bar.update(len(entry) - len(block))
                while len(block):
                    piece = block.slice(0, limit - rows_in_chunk)
                    chunk.append(piece)
                    rows_in_chunk += len(piece)
                    block = block.slice(len(piece))
                    if rows_in_chunk >= limit:
                        commit()
                continue
            if chunk and isinstance(chunk[0], Block):
                commit()
            h = key_hash(entry.key)
            pending = h in self.pending_keys
            own = pending and h in self.pending_by_unit.get(unit.key, ())
            fate = self._key_fate(h, h in self.committed_keys, pending, own)
            if fate != NEW:
                already += fate == ALREADY
                if fate == DUPLICATE:
                    skips.append(Skip(entry.ref, "duplicate key", f"key {entry.key!r} seen earlier in this build"))
                bar.update()
                continue
            chunk.append(entry)
            rows_in_chunk += 1
            if rows_in_chunk >= limit:
                commit()
        if chunk or skips:
            commit()
        done = {"op": "unit_done", "unit": unit.key, "source": src.text, "already_indexed": already, "time": _now()}
        finish = self._unfinished
        if finish is None:
            self.journal.append(done)
        else:
            # The unit's last part stays open while the next unit is read (helpers keep labelling);
            # the unit is journaled done only after that part is.
            def finish_unit() -> None:
                finish()
                self.journal.append(done)

            self._unfinished = finish_unit
        return added, already

    def _key_fate(self, h: int, committed: bool, pending: bool, own: bool) -> int:
        """What becomes of an item whose key hashes to ``h``: ALREADY in the index, RESUMED (this
        unit committed it in an interrupted attempt of this build: skipped quietly, once), a
        DUPLICATE of a key seen earlier in this build (or committed by another unit), or NEW.
        ``committed`` / ``pending`` / ``own``: whether ``h`` is in the index's parts, in the parts
        of an interrupted attempt, in those of this unit."""
        if committed:
            return ALREADY
        seen = self.seen
        if own and h not in seen:
            seen.add(h)
            return RESUMED
        if pending or h in seen:
            return DUPLICATE
        seen.add(h)
        return NEW

    def _new_rows(self, block: Block, unit_key: str, skips: list[Skip]) -> tuple[Block, int]:
        """The rows of ``block`` this build adds (:meth:`_key_fate` of each row, with the key sets
        looked up for the whole block at once), and how many of its rows the index already holds."""
        hashes = np.fromiter(map(key_hash, block.keys), np.int64, len(block))
        committed = self.committed_keys.contains_many(hashes)
        pending = self.pending_keys.contains_many(hashes)
        own = self.pending_by_unit[unit_key].contains_many(hashes) if unit_key in self.pending_by_unit else pending & False
        fate = self._key_fate
        fates = [fate(*a) for a in zip(hashes.tolist(), committed.tolist(), pending.tolist(), own.tolist())]
        for j in (j for j, f in enumerate(fates) if f == DUPLICATE):
            skips.append(Skip(block.ref(j), "duplicate key", f"key {block.keys[j]!r} seen earlier in this build"))
        keep = [j for j, f in enumerate(fates) if f == NEW]
        if len(keep) == len(block):
            return block, 0
        return block.take(np.asarray(keep, dtype=np.int64)), fates.count(ALREADY)

    def _commit_chunk(self, src, unit_key: str, chunk: list[Item] | list[Block], skips: list[Skip]) -> int:
        """Turn ``chunk`` into the next part. The part is finished (labels in, Parquet written,
        journaled) by :meth:`_drain` when the part after it has been started: labelling done by
        helper processes then overlaps with writing this part and reading the next chunk."""
        blocks = bool(chunk) and isinstance(chunk[0], Block)
        if blocks:
            n = sum(len(b) for b in chunk)
        else:
            items, vecs = [], []
            for item, vec in self._embed(src, chunk, skips):
                items.append(item)
                vecs.append(vec)
            n = len(items)
        record: dict[str, Any] = {"source": src.text, "unit": unit_key, "skips": [_skip_dict(s) for s in skips]}
        if not n:
            self._drain()
            if skips:
                self.journal.append({"op": "skips", **record})
            return 0
        state = self.state
        # The open part (if any) is journaled before this one: count it in.
        name = part_name(state.next_part_number + (1 if self._unfinished else 0))
        first_id = state.next_id + self._unfinished_count
        by_table = False
        if blocks:
            matrix = chunk[0].vectors if len(chunk) == 1 else np.concatenate([b.vectors for b in chunk])
            matrix = np.ascontiguousarray(matrix, dtype=np.float32)
            given = self._block_table(chunk, first_id, src.text)
            by_table = self.labeler is not None and hasattr(self.labeler, "submit_table")
            meta = None if by_table else given.to_pylist()
        else:
            matrix = np.ascontiguousarray(np.stack(vecs), dtype=np.float32)
            given = None
            meta = self._rows(items, first_id, src.text)
        # helper processes start on this part...
        wait = self.labeler.submit_table(given, matrix) if by_table else self._label(meta, matrix)
        self._drain()  # ...while this process finishes the previous one
        parts = self.dir / PARTS_DIR
        parts.mkdir(parents=True, exist_ok=True)
        with atomic_path(parts / f"{name}.npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, matrix, allow_pickle=False)

        def finish() -> None:
            import pyarrow.parquet as pq

            labels = wait()
            if given is None:
                table = rows_to_table(meta)
            elif by_table:
                table = with_columns(given, labels)
            else:
                table = with_new_fields(given, meta, self._label_fields)
            with atomic_path(parts / f"{name}.parquet") as tmp:
                pq.write_table(table, tmp, row_group_size=ROW_GROUP)
            with atomic_path(parts / f"{name}{LOOKUP_SUFFIX}") as tmp:
                write_lookup(table, tmp)
            failpoint("part-written")
            part = {"op": "part", "name": name, "first_id": first_id, "count": n, **record}
            self.journal.append(part)
            failpoint("part-journaled")
            state.pending_parts.append(part)

        self._unfinished, self._unfinished_count = finish, n
        return n

    def _drain(self) -> None:
        """Finish the part :meth:`_commit_chunk` left open, if any."""
        finish, self._unfinished, self._unfinished_count = self._unfinished, None, 0
        if finish is not None:
            finish()

    def _label(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> Callable[[], None]:
        """Start labelling ``rows``; the returned function waits until their fields are in place."""
        if self.labeler is None:
            return lambda: None
        submit = getattr(self.labeler, "submit", None)
        if submit is not None:
            return submit(rows, vectors)
        self.labeler(rows, vectors)
        return lambda: None

    def _embed(self, src, items: list[Item], skips: list[Skip]):
        dim = self.identity["dim"]
        if src.precomputed:
            for it in items:
                if it.vector is None or it.vector.shape != (dim,):
                    skips.append(Skip(it.ref, "wrong embedding dimension", f"expected {dim}"))
                    continue
                yield it, it.vector
            return
        from ..embed import embed_items

        for out in embed_items(items, self.embedder, batch_size=self.opts.batch_size, workers=self.opts.workers, analyze=self.analyzer):
            if isinstance(out, Skip):
                skips.append(out)
            else:
                yield out

    def _rows(self, items: list[Item], first_id: int, source_text: str) -> list[dict[str, Any]]:
        rows = []
        for i, it in enumerate(items):
            m = it.meta
            row = {
                "id": first_id + i,
                "key": it.key,
                "url": m.get("url"),
                "caption": m.get("caption"),
                "source": source_text,
                "shard": m.get("shard"),
                "width": m.get("width", m.get("x_width", m.get("orig_width"))),
                "height": m.get("height", m.get("x_height", m.get("orig_height"))),
            }
            for k, v in m.items():
                if k.startswith("x_"):
                    name = k[2:]
                    if name in ("width", "height") or name in row:
                        name = f"src_{name}"
                    if name in RESERVED:
                        name = f"src_{name}"
                    row[name] = v
                elif k not in row and k not in ("width", "height", "shard", "url", "caption"):
                    row[k] = v
            rows.append(row)
        return rows

    def _block_table(self, blocks: list[Block], first_id: int, source_text: str):
        """A part's metadata table for ``blocks``: the columns :meth:`_rows` makes of items, in its order."""
        import pyarrow as pa

        given = blocks[0].table if len(blocks) == 1 else pa.concat_tables([b.table for b in blocks], promote_options="permissive")
        n = given.num_rows
        have = set(given.column_names)

        def col(name: str, string: bool = True):
            return given.column(name) if name in have else pa.nulls(n, pa.string() if string else pa.null())

        keys = [k for b in blocks for k in b.keys]
        out = {
            "id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
            "key": pa.array(keys, pa.string()),
            "url": col("url"),
            "caption": col("caption"),
            "source": pa.array([source_text] * n, pa.string()),
            "shard": col("shard"),
            "width": col("x_width", string=False),
            "height": col("x_height", string=False),
        }
        for k in given.column_names:
            if k.startswith("x_"):
                name = k[2:]
                if name in ("width", "height") or name in out or name in RESERVED:
                    name = f"src_{name}"
                out[name] = given.column(k)
        return pa.table(out)

    def _build_skips(self, state: BuildState) -> list[dict[str, str]]:
        """Skips of the current (uncommitted) build, each input once however often it was retried."""
        records = self.journal.read()
        last_commit = max((i for i, r in enumerate(records) if r.get("op") == "commit"), default=-1)
        seen, out = set(), []
        for r in records[last_commit + 1 :]:
            for s in r.get("skips", ()):
                k = (s["ref"], s["reason"])
                if k not in seen:
                    seen.add(k)
                    out.append({**s, "source": r.get("source")})
        return out

    # -- commit ------------------------------------------------------------------
    def _finalize(self, state: BuildState, skips: list[dict[str, str]]) -> dict[str, Any]:
        import faiss

        dim = int(self.identity["dim"])
        parts = state.committed_parts + [
            {"name": p["name"], "first_id": p["first_id"], "count": p["count"], "source": p["source"]} for p in state.pending_parts
        ]
        total = sum(int(p["count"]) for p in parts)
        old = state.manifest
        if old:
            index = faiss.read_index(str(self.dir / old["faiss"]["file"]))
            plan = faiss_plan.IndexPlan.from_dict(old["faiss"])
            new_reader = PartReader(self.dir, state.pending_parts)
            faiss_plan.train_and_fill(plan, dim, None, new_reader.iter_vectors(), index=index)
        else:
            plan = faiss_plan.choose_plan(total, dim, factory=self.opts.index_factory, memory_budget=self.opts.memory_budget)
            reader = PartReader(self.dir, parts)
            try:
                index = faiss_plan.train_and_fill(plan, dim, lambda n: sample_vectors(reader, n), reader.iter_vectors())
            except RuntimeError as exc:
                raise UsageError(f"FAISS could not build index {plan.factory!r} for {total} vectors: {str(exc).splitlines()[0][:200]}") from None
        if index.ntotal != total:
            raise IngestError(f"internal error: FAISS holds {index.ntotal} vectors but the parts hold {total}")
        faiss_plan.tune(index, plan, PartReader(self.dir, parts), target_recall=self.opts.target_recall)
        generation = (int(old["generation"]) if old else 0) + 1
        fname = index_file(generation)
        with atomic_path(self.dir / fname) as tmp:
            faiss.write_index(index, str(tmp))
        failpoint("faiss-written")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.dir.name,
            "created": old["created"] if old else _now(),
            "updated": _now(),
            "build_id": self.build_id,
            "generation": generation,
            "count": total,
            "dim": dim,
            "metric": "inner_product",
            "encoder": self.identity,
            "precision": self.encoder.precision if self.encoder is not None else (old or {}).get("precision"),
            "embedding_engine": (self.embedder.engine if self.embedder is not None and not self._all_precomputed
                                 else (old or {}).get("embedding_engine")),
            "faiss": {**plan.to_dict(), "file": fname},
            "parts": [{k: p[k] for k in ("name", "first_id", "count")} for p in parts],
            "vectors_dtype": "float32",
            "sources": self._source_stats(old, skips),
            "skipped_total": 0,
        }
        manifest["skipped_total"] = sum(s["skipped"] for s in manifest["sources"])
        if self.labeler is not None:
            manifest["attribution"] = self.labeler.describe()
        elif old and old.get("attribution"):
            manifest["attribution"] = old["attribution"]
        self._write_skips()
        atomic_write_json(self.dir / MANIFEST, manifest)
        failpoint("manifest-written")
        self.journal.append({"op": "commit", "build_id": self.build_id, "generation": generation, "count": total, "time": _now()})
        if old and old["faiss"]["file"] != fname:
            (self.dir / old["faiss"]["file"]).unlink(missing_ok=True)
        return manifest

    def _source_stats(self, old: dict | None, skips: list[dict[str, str]]) -> list[dict[str, Any]]:
        stats: dict[str, dict[str, Any]] = {s["source"]: dict(s) for s in (old or {}).get("sources", [])}
        records = self.journal.read()
        last_commit = max((i for i, r in enumerate(records) if r.get("op") == "commit"), default=-1)
        for r in records[last_commit + 1 :]:
            if r.get("op") not in ("part", "unit_done"):
                continue
            src = r["source"]
            st = stats.setdefault(src, {"source": src, "format": None, "ingested": 0, "skipped": 0, "skip_reasons": {}, "already_indexed": 0})
            if r["op"] == "part":
                st["ingested"] += int(r["count"])
            else:
                st["already_indexed"] = st.get("already_indexed", 0) + int(r.get("already_indexed", 0))
        fmt = {s.text: s.format for s in self.sources}
        for s in skips:
            st = stats.get(s["source"])
            if st is None:
                continue
            st["skipped"] += int(s.get("count", 1))
            st["skip_reasons"][s["reason"]] = st["skip_reasons"].get(s["reason"], 0) + int(s.get("count", 1))
        for src, st in stats.items():
            st["format"] = st.get("format") or fmt.get(src)
            st["last_ingested"] = _now() if any(r.get("source") == src for r in records[last_commit + 1 :]) else st.get("last_ingested")
        return list(stats.values())

    def _write_skips(self) -> None:
        """``skipped.jsonl``: every input ever skipped, once, rebuilt from the journal (so a resumed commit cannot double it)."""
        seen, lines = set(), []
        for r in self.journal.read():
            for s in r.get("skips", ()):
                k = (s["ref"], s["reason"])
                if k not in seen:
                    seen.add(k)
                    lines.append((json.dumps({**s, "source": r.get("source")}, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass"))
        atomic_write_bytes(self.dir / SKIPS, b"".join(lines))

    def _report(self, state, manifest, *, added, already, skips, resumed=False, up_to_date=False) -> BuildReport:
        reasons = Counter()
        for s in skips:
            reasons[s["reason"]] += int(s.get("count", 1))
        return BuildReport(
            index=str(self.dir),
            count=int(manifest["count"]),
            added=added,
            already_indexed=already,
            skipped=sum(reasons.values()),
            skip_reasons=dict(reasons),
            skipped_examples=skips[:20],
            sources=manifest.get("sources", []),
            encoder=manifest["encoder"],
            faiss=manifest["faiss"],
            precision=manifest.get("precision"),
            embedding_engine=manifest.get("embedding_engine"),
            seconds=round(time.time() - self.t0, 3),
            resumed=resumed,
            up_to_date=up_to_date,
            skips_file=str(self.dir / SKIPS) if skips else None,
        )


def rows_to_table(rows: list[dict[str, Any]]):
    """An Arrow table from row dicts; a column whose values disagree in type is stored as text."""
    import pyarrow as pa

    names = list(dict.fromkeys(k for r in rows for k in r))  # in order of first appearance
    return pa.table({n: _column([r.get(n) for r in rows], n) for n in names})


def with_new_fields(table, rows: list[dict[str, Any]], declared: Sequence[str] = ()):
    """``table`` with the fields a labeler added to its ``rows`` (one dict per table row, made from
    the table's columns). New keys become new columns; a column named in ``declared`` (the fields
    the labeler says it writes) is replaced in place, as a row's value would be."""
    given = table.column_names
    names = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in given or k in declared]
    return with_columns(table, {n: [r.get(n) for r in rows] for n in names})


def with_columns(table, columns: dict[str, list]):
    """``table`` with ``columns`` (name -> values per row): a column of the same name is replaced in place."""
    import pyarrow as pa

    arrays = {c: table.column(c) for c in table.column_names}
    arrays.update((name, _column(values, name)) for name, values in columns.items())
    return pa.table(arrays)


def _column(values: list, name: str):
    import pyarrow as pa

    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        arr = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if pa.types.is_null(arr.type) and name in ("url", "caption", "shard", "key", "source"):
        arr = arr.cast(pa.string())
    return arr


def sample_vectors(reader: PartReader, n: int, seed: int = 0) -> np.ndarray:
    """``n`` vectors drawn uniformly without replacement (sorted ids, read part by part)."""
    from .exact import read_rows

    total = sum(int(p["count"]) for p in reader.parts)
    n = min(n, total)
    if n >= total:
        return np.concatenate(list(reader.iter_vectors()))
    ids = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    out = []
    for p in reader.parts:
        lo, hi = int(p["first_id"]), int(p["first_id"]) + int(p["count"])
        sel = ids[(ids >= lo) & (ids < hi)] - lo
        if len(sel):
            out.append(read_rows(reader, p["name"], sel))  # scattered rows: no readahead, map not kept
    return np.concatenate(out)


def _spec_dim(parsed) -> int:
    from ..encoders.imports import import_open_clip

    open_clip = import_open_clip()

    if parsed.kind == "tiny":
        from ..encoders.tiny import TINY_CONFIG

        return int(TINY_CONFIG["embed_dim"])
    cfg = open_clip.get_model_config(parsed.arch) if parsed.arch else None
    if not cfg:
        raise EncoderError(f"cannot tell the embedding dimension of {parsed.text}: give an open_clip architecture name")
    return int(cfg["embed_dim"])


def _check_space(directory: Path, rows: int | None, dim: int) -> None:
    """Warn before a build that cannot fit: the float32 vectors alone (a lower bound: metadata and the
    FAISS index come on top) against the free space where the index goes."""
    if not rows:
        return
    probe = directory
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    need = rows * dim * 4
    if free < need:
        import warnings

        warnings.warn(
            f"{probe} has {free / 1e9:.1f} GB free, but the {rows:,} vectors of this build alone take {need / 1e9:.1f} GB "
            "(metadata and the index come on top): it will stop when the disk is full. Free some space, or build "
            "elsewhere (a directory path as NAME, or $PROVENANCE_INDEXES).", RuntimeWarning, stacklevel=2)


def _skip_dict(s: Skip) -> dict[str, Any]:
    d = {"ref": s.ref, "reason": s.reason}
    if s.detail:
        d["detail"] = s.detail[:300]
    if s.count != 1:
        d["count"] = s.count
    return d


def _fmt_reasons(reasons: Counter) -> str:
    return ", ".join(f"{n} {r}" for r, n in reasons.most_common())


def _wipe(directory: Path) -> None:
    if not directory.exists():
        return
    for p in directory.iterdir():
        if p.name == LOCK:
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
