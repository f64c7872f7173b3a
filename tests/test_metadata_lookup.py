"""Neighbour metadata by id: row-group reads across parts give exactly the table's rows."""

from __future__ import annotations

import numpy as np
import pytest

import provenance
from helpers import write_clip_retrieval
from provenance.index import build_index, builder, store


def test_rows_by_id_across_parts_and_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(builder, "ROW_GROUP", 3)  # many small row groups per part
    monkeypatch.setattr(store, "ROW_GROUP_CACHE", 4)  # and a cache smaller than one lookup needs
    n = 60
    rows = [{"key": f"k{i:03d}", "url": f"https://example.org/{i}.jpg", "caption": f"item {i}"} for i in range(n)]
    vecs = np.random.default_rng(0).standard_normal((n, 256)).astype(np.float32)
    src = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=25)
    build_index(tmp_path / "idx", str(src), encoder="tiny", fmt="embeddings", commit_every=7, progress=False)
    index = provenance.open_index(tmp_path / "idx")
    table = index.metadata().to_pylist()
    assert [r["id"] for r in table] == list(range(n))
    ids = [59, 0, 13, 13, 42, 7, 8, 58, 1, 30, 29, 0]  # unordered, repeated, spread over parts and groups
    assert index.rows(ids) == [table[i] for i in ids]
    index.prefetch()  # a prefetch in the background changes nothing
    assert index.rows(list(reversed(ids))) == [table[i] for i in reversed(ids)]
    assert index.rows([]) == []
    # Every part has its memory-mapped lookup copy, and an index written before those existed
    # (Parquet only) answers the same from row groups.
    names = [p["name"] for p in index.manifest["parts"]]
    assert len(names) > 2 and all((tmp_path / "idx" / "parts" / f"{n}.arrow").exists() for n in names)
    for n in names[::2]:
        (tmp_path / "idx" / "parts" / f"{n}.arrow").unlink()
    older = provenance.open_index(tmp_path / "idx")
    assert older.rows(ids) == [table[i] for i in ids]
    # A damaged lookup copy (truncated, or the rows of another part) is not trusted: Parquet answers.
    truncated, swapped = (tmp_path / "idx" / "parts" / f"{n}.arrow" for n in names[1:3])
    truncated.write_bytes(truncated.read_bytes()[:100])
    swapped.write_bytes((tmp_path / "idx" / "parts" / f"{names[3]}.arrow").read_bytes())  # same size, other ids
    damaged = provenance.open_index(tmp_path / "idx")
    with pytest.warns(RuntimeWarning, match="Parquet"):
        assert damaged.rows(ids) == [table[i] for i in ids]
