"""Reading a committed index: manifest, FAISS file, metadata parts, stored vectors.

Everything a reader touches is named by ``manifest.json``, which writers replace
atomically, so a reader sees one complete generation or the previous one.
"""

from __future__ import annotations

import bisect
import json
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import ProvenanceError
from .layout import FORMAT, FORMAT_VERSION, LOOKUP_SUFFIX, MANIFEST, PARTS_DIR
from .lookup import int64_array, open_lookup

ROW_GROUP_CACHE = 64


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise ProvenanceError(f"{path} is not valid JSON ({exc}); the index is damaged — rebuild it") from None
    if manifest.get("format") != FORMAT:
        raise ProvenanceError(f"{path} is not a provenance index manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise ProvenanceError(
            f"index {directory} has format version {manifest['format_version']}, newer than this provenance "
            f"understands ({FORMAT_VERSION}); upgrade provenance"
        )
    return manifest


class PartReader:
    """Random access to metadata rows and vectors across the index's parts."""

    def __init__(self, directory: Path, parts: Sequence[dict[str, Any]]):
        self.directory = directory
        self.parts = list(parts)
        self.first_ids = [int(p["first_id"]) for p in self.parts]
        self._files: dict[str, Any] = {}
        self._groups: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._group_starts: dict[str, np.ndarray] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._lookups: dict[str, Any] = {}

    def _locate(self, id_: int) -> tuple[dict[str, Any], int]:
        i = bisect.bisect_right(self.first_ids, id_) - 1
        if i < 0 or id_ >= self.first_ids[i] + int(self.parts[i]["count"]):
            raise IndexError(f"id {id_} is not in this index")
        return self.parts[i], id_ - self.first_ids[i]

    def _parquet(self, name: str):
        import pyarrow.parquet as pq

        pf = self._files.get(name)
        if pf is None:
            pf = pq.ParquetFile(self.directory / PARTS_DIR / f"{name}.parquet")
            self._files[name] = pf
        return pf

    def _group_of(self, name: str, offset: int) -> tuple[int, int]:
        """(row group, its first row) holding ``offset`` of part ``name``."""
        starts = self._group_starts.get(name)
        if starts is None:
            md = self._parquet(name).metadata
            starts = np.cumsum([0] + [md.row_group(i).num_rows for i in range(md.num_row_groups)])
            self._group_starts[name] = starts
        rg = int(np.searchsorted(starts, offset, side="right")) - 1
        return rg, int(starts[rg])

    def _lookup(self, part: dict[str, Any]):
        """The part's memory-mapped Arrow copy, or None (parts written before it existed, or a damaged
        copy: the Parquet file is the part's authoritative metadata, so lookups fall back to it)."""
        name = part["name"]
        if name not in self._lookups:
            path = self.directory / PARTS_DIR / f"{name}{LOOKUP_SUFFIX}"
            table = None
            if path.exists():
                try:
                    table = open_lookup(path)
                except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
                    warnings.warn(f"{path} is unreadable ({exc}); reading part {name} from its Parquet file", RuntimeWarning,
                                  stacklevel=2)
                else:
                    first = table.column("id")[0].as_py() if table.num_rows and "id" in table.column_names else None
                    if table.num_rows != int(part["count"]) or (table.num_rows and first != int(part["first_id"])):
                        warnings.warn(f"{path} does not hold part {name}'s rows; reading them from its Parquet file",
                                      RuntimeWarning, stacklevel=2)
                        table = None
            self._lookups[name] = table
        return self._lookups[name]

    def prefetch(self) -> None:
        """Open every part's lookup copy (or Parquet footer) and pyarrow's compute kernels ahead of lookups."""
        import pyarrow.compute  # noqa: F401  (first use costs ~0.1 s)

        for part in self.parts:
            if self._lookup(part) is None:
                self._group_of(part["name"], 0)

    def rows(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        """Metadata rows for ``ids`` (in the given order).

        Parts with a lookup copy give their rows with one ``take`` on the memory map. For parts
        without one, row groups missing from the cache are read with one multi-threaded call per
        part and picked with one ``take``: tracing a batch of queries touches hundreds of row
        groups of a large index."""
        import pyarrow as pa

        ids = [int(i) for i in ids]
        by_part: dict[str, dict[int, list[tuple[int, int]]]] = {}
        mapped: dict[str, list[tuple[int, int]]] = {}
        for pos, id_ in enumerate(ids):
            part, offset = self._locate(id_)
            if self._lookup(part) is not None:
                mapped.setdefault(part["name"], []).append((pos, offset))
                continue
            rg, start = self._group_of(part["name"], offset)
            by_part.setdefault(part["name"], {}).setdefault(rg, []).append((pos, offset - start))
        out: list[dict[str, Any] | None] = [None] * len(ids)
        for name, picks in mapped.items():
            rows = self._lookups[name].take(int64_array([o for _, o in picks])).to_pylist()
            for (pos, _), row in zip(picks, rows):
                out[pos] = row
        for name, groups in by_part.items():
            order = sorted(groups)
            tables = self._row_groups(name, order)
            base, picks, positions = 0, [], []
            for rg in order:
                for pos, o in groups[rg]:
                    picks.append(base + o)
                    positions.append(pos)
                base += tables[rg].num_rows
            joined = tables[order[0]] if len(order) == 1 else pa.concat_tables([tables[rg] for rg in order])
            for pos, row in zip(positions, joined.take(int64_array(picks)).to_pylist()):
                out[pos] = row
        return out  # type: ignore[return-value]

    def _row_groups(self, name: str, rgs: list[int]) -> dict[int, Any]:
        """Tables of row groups ``rgs`` of part ``name``, from the cache or one read."""
        found = {}
        missing = []
        for rg in rgs:
            t = self._groups.get((name, rg))
            if t is None:
                missing.append(rg)
            else:
                self._groups.move_to_end((name, rg))
                found[rg] = t
        if missing:
            table = self._parquet(name).read_row_groups(missing, use_threads=True)
            starts = self._group_starts[name]
            at = 0
            for rg in missing:
                n = int(starts[rg + 1] - starts[rg])
                found[rg] = table.slice(at, n)
                at += n
                self._groups[(name, rg)] = found[rg]
                if len(self._groups) > ROW_GROUP_CACHE:
                    self._groups.popitem(last=False)
        return found

    def part_vectors(self, name: str) -> np.ndarray:
        arr = self._vectors.get(name)
        if arr is None:
            arr = np.load(self.directory / PARTS_DIR / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            self._vectors[name] = arr
        return arr

    def vectors_for(self, ids: Sequence[int]) -> np.ndarray:
        out = []
        for id_ in ids:
            part, offset = self._locate(int(id_))
            out.append(np.asarray(self.part_vectors(part["name"])[offset], dtype=np.float32))
        return np.stack(out) if out else np.zeros((0, 0), np.float32)

    def iter_vectors(self, batch: int = 65_536) -> Iterable[np.ndarray]:
        """All vectors in id order, a slice at a time (memory-mapped)."""
        for part in self.parts:
            # A fresh map per pass, dropped after the part: a cached map would keep every page
            # of a 20 GB index resident (and counted in RSS) after one streaming pass.
            arr = np.load(self.directory / PARTS_DIR / f"{part['name']}.npy", mmap_mode="r", allow_pickle=False)
            for s in range(0, arr.shape[0], batch):
                # parts are float32: a view of the map, no copy (FAISS and BLAS read it in place)
                yield np.asarray(arr[s : s + batch], dtype=np.float32)
            del arr

    def table(self, columns: Sequence[str] | None = None):
        """All metadata as one Arrow table (parts whose column types differ are reconciled as text)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for part in self.parts:
            path = self.directory / PARTS_DIR / f"{part['name']}.parquet"
            cols = None
            if columns is not None:
                have = set(pq.ParquetFile(path).schema_arrow.names)
                cols = [c for c in columns if c in have]
            tables.append(pq.read_table(path, columns=cols))
        if not tables:
            return pa.table({})
        return concat_tables(tables)


def concat_tables(tables):
    import pyarrow as pa

    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        types: dict[str, set] = {}
        for t in tables:
            for f in t.schema:
                types.setdefault(f.name, set()).add(f.type)
        clash = {n for n, ts in types.items() if len({str(t) for t in ts if not pa.types.is_null(t)}) > 1}
        fixed = []
        for t in tables:
            for n in clash & set(t.column_names):
                i = t.column_names.index(n)
                t = t.set_column(i, n, t.column(n).cast(pa.string()))
            fixed.append(t)
        return pa.concat_tables(fixed, promote_options="permissive")
