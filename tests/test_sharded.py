"""Sharded indexes: independently built shards searched together equal one index over the union."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run_cli, write_clip_retrieval, write_folder
from provenance.index import build_index, open_index
from provenance.index.sharded import ShardedIndex
from provenance.index.synthetic import GaussianMixture

DIM = 256  # tiny encoder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """900 vectors split into three shards of different sizes, plus one index over all of them."""
    root = tmp_path_factory.mktemp("shards")
    vectors = GaussianMixture(dim=DIM, clusters=30, seed=5).sample(0, 900)
    rows = [{"key": f"k{i}", "caption": f"item {i}", "url": f"https://example.com/{i}.jpg"} for i in range(900)]
    bounds = [(0, 200), (200, 650), (650, 900)]
    shard_paths = []
    for j, (lo, hi) in enumerate(bounds):
        src = write_clip_retrieval(root / f"emb{j}", vectors[lo:hi], rows[lo:hi], per_file=hi - lo)
        build_index(root / f"shard{j}", str(src), encoder="tiny", progress=False, commit_every=128)
        shard_paths.append(root / f"shard{j}")
    union_src = write_clip_retrieval(root / "all", vectors, rows, per_file=900)
    build_index(root / "union", str(union_src), encoder="tiny", progress=False)
    r = run_cli("index", root / "sharded", "--shards", ",".join(str(p) for p in shard_paths), "--json")
    return root, vectors, json.loads(r.stdout)


def test_sharded_search_equals_union_search(corpus):
    root, vectors, manifest = corpus
    assert manifest["kind"] == "sharded" and manifest["count"] == 900 and len(manifest["shards"]) == 3
    sharded, union = open_index(root / "sharded"), open_index(root / "union")
    assert isinstance(sharded, ShardedIndex) and sharded.count == union.count == 900
    queries = GaussianMixture(dim=DIM, clusters=30, seed=5).queries(25)
    s1, i1 = sharded.search(queries, 15)
    s2, i2 = union.search(queries, 15)
    np.testing.assert_array_equal(i1, i2)  # global ids = positions in shard order = union ids
    np.testing.assert_allclose(s1, s2, atol=1e-5)
    # more neighbours than items: padded with -1 like a single index
    _, many = sharded.search(queries[:1], 1000)
    assert (many[0, :900] >= 0).all() and (many[0, 900:] == -1).all()


def test_global_ids_map_back_to_each_shards_rows(corpus):
    root, vectors, _ = corpus
    ix = open_index(root / "sharded")
    picks = [0, 199, 200, 649, 650, 899]
    _, ids = ix.search(vectors[picks], 1)
    assert list(ids[:, 0]) == picks
    rows = ix.rows(picks)
    assert [r["key"] for r in rows] == [f"k{p}" for p in picks]
    assert [r["id"] for r in rows] == picks
    assert [r["index_shard"] for r in rows] == ["shard0", "shard0", "shard1", "shard1", "shard2", "shard2"]
    np.testing.assert_allclose(ix.vectors(picks), vectors[picks], atol=1e-6)
    table = ix.metadata(["id", "key"])
    assert table.column("id").to_pylist() == list(range(900))
    assert table.column("key").to_pylist()[650] == "k650"


def test_info_and_refusals(corpus, tmp_path):
    root, vectors, _ = corpus
    r = run_cli("info", root / "sharded", "--json")
    info = json.loads(r.stdout)
    assert info["count"] == 900 and info["faiss"]["factory"].startswith("3 shards")
    run_cli("info", root / "sharded")
    # replacing needs --overwrite; a built index is never replaced; shards must exist
    r = run_cli("index", root / "sharded", "--shards", f"{root / 'shard0'},{root / 'shard1'}", expect=2)
    assert "--overwrite" in r.output
    r = run_cli("index", root / "union", "--shards", str(root / "shard0"), "--overwrite", expect=2)
    assert "already holds a built index" in r.output
    r = run_cli("index", tmp_path / "x", "--shards", f"{root / 'shard0'},{root / 'nope'}", expect=2)
    assert "unknown index" in r.output
    r = run_cli("index", tmp_path / "y", "--shards", str(root / "shard0"), "--from", str(root / "emb0"), expect=2)
    assert "contradict" in r.output


def test_shards_with_different_encoders_are_refused(tmp_path, image_folder):
    build_index(tmp_path / "a", str(image_folder), encoder="tiny", progress=False)
    v = np.eye(512, dtype=np.float32)[:20]
    src = write_clip_retrieval(tmp_path / "emb", v, [{"key": f"e{i}"} for i in range(20)], per_file=20)
    build_index(tmp_path / "b", str(src), encoder="open_clip:ViT-B-32", progress=False)
    r = run_cli("index", tmp_path / "ab", "--shards", f"{tmp_path / 'a'},{tmp_path / 'b'}", expect=2)
    assert "dimension" in r.output or "encoder" in r.output


def test_trace_through_a_sharded_index(tmp_path, photos):
    names = list(photos)
    a = write_folder(tmp_path / "pa", photos, names[:7])
    b = write_folder(tmp_path / "pb", photos, names[7:])
    run_cli("index", tmp_path / "sa", "--from", a, "--encoder", "tiny", "--no-progress")
    run_cli("index", tmp_path / "sb", "--from", b, "--encoder", "tiny", "--no-progress")
    run_cli("index", tmp_path / "both", "--shards", f"{tmp_path / 'sa'},{tmp_path / 'sb'}")
    query = tmp_path / "q.png"
    photos[names[9]].save(query)  # lives in the second shard
    r = run_cli("trace", query, "--index", tmp_path / "both", "--json", "--no-ocr", "--no-faces", "-k", "5")
    doc = json.loads(r.stdout)
    top = doc["results"][0]["neighbours"][0]
    assert top["key"].endswith(names[9]) or names[9] in top["key"]
    assert top["id"] >= 7 and top["meta"]["index_shard"] == "sb"
    assert doc["index"]["count"] == len(names)
    # shard b grows: it is last, so earlier ids stay valid and the sharded index still opens
    extra = write_folder(tmp_path / "pc", photos, names[:1])
    (extra / "b" / f"{names[0]}.jpg").rename(extra / "b" / "again.jpg")
    run_cli("index", tmp_path / "sb", "--from", extra, "--append", "--no-progress")
    assert open_index(tmp_path / "both").count == len(names) + 1
    # shard a grows: later ids would shift, so opening is refused with the fix
    run_cli("index", tmp_path / "sa", "--from", extra, "--append", "--no-progress")
    r = run_cli("trace", query, "--index", tmp_path / "both", "--no-ocr", "--no-faces", expect=1)
    assert "re-create" in r.output
