"""Labelling shared with helper processes gives exactly the labels one process gives."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from provenance.attribute import pool as label_pool
from provenance.attribute.classifier import SourceClassifier
from provenance.attribute.hooks import build_hooks
from provenance.index import build_index

from helpers import write_clip_retrieval

SHARED = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "web_alt_text.parquet"


def web_rows(n: int) -> list[dict]:
    if SHARED.exists():
        rows = pq.read_table(SHARED, columns=["url", "caption"]).slice(0, n).to_pylist()
    else:  # the suite runs without ../shared too
        rows = [{"url": f"https://www.shutterstock.com/image-photo/{i}.jpg" if i % 3 else f"https://blog{i}.tumblr.com/p.jpg",
                 "caption": f"me and my dog #{i}" if i % 2 else f"item {i} for sale $9.99"} for i in range(n)]
    rng = np.random.default_rng(0)
    for i, r in enumerate(rows):
        r["key"] = f"k{i:05d}"
        r["pwatermark"] = float(rng.random())  # a taxonomy column: travels to the workers
        r["width"] = 640  # not a taxonomy column: stays home
        if i % 7 == 0:
            r["img_selfie_framing"], r["img_faces"] = True, 1  # image cues travel too
    return rows


@pytest.fixture
def eager(monkeypatch):
    """Start the pool at once and split even small batches."""
    monkeypatch.setattr(label_pool, "START_AFTER_ROWS", 0)
    monkeypatch.setattr(label_pool, "MIN_SPLIT_ROWS", 8)


def test_pool_labels_equal_in_process_labels(eager):
    clf = SourceClassifier()
    rows = web_rows(600)
    expected = [clf.classify(r["url"], r["caption"], columns=r, image=r).fields() for r in rows]
    p = label_pool.LabelPool(clf, workers=1)
    try:
        got = p.label(rows, None)
        assert p.active  # the work really was shared
        assert got == expected
        assert p.label(rows[:5], None) == expected[:5]  # below the split size: in process, same answer
    finally:
        p.close()
    assert not p.active


def test_no_pool_below_the_start_threshold():
    p = label_pool.LabelPool(SourceClassifier(), workers=1)
    p.label(web_rows(50), None)
    assert not p.active


def test_in_memory_classifier_is_labelled_in_process(eager, tmp_path):
    import copy

    from provenance.attribute.learned import builtin_model

    model = copy.copy(builtin_model())
    model.source = "memory"  # as a model made in a notebook: no file a worker could load
    clf = SourceClassifier(learned=model)
    assert label_pool.classifier_recipe(clf) is None
    p = label_pool.LabelPool(clf, workers=1)
    assert len(p.label(web_rows(40), None)) == 40 and not p.active


def test_index_build_with_label_workers_matches_a_single_process_build(eager, tmp_path):
    rows = web_rows(300)
    vecs = np.random.default_rng(1).standard_normal((len(rows), 256)).astype(np.float32)
    src = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=100)
    tables = {}
    for workers in (0, 1):
        out = tmp_path / f"idx{workers}"
        hooks = build_hooks(workers=workers)
        build_index(out, str(src), encoder="tiny", fmt="embeddings", commit_every=64, progress=False, **hooks)
        pool = hooks["labeler"].pool
        assert pool.started == bool(workers) and not pool.active  # shared when asked, closed when the build ended
        parts = [pq.read_table(p) for p in sorted((out / "parts").glob("*.parquet"))]
        tables[workers] = [r for t in parts for r in t.select(["key", "label", "label_confidence", "selfie", "evidence"]).to_pylist()]
    assert len(tables[1]) == len(rows)
    assert tables[0] == tables[1]


def test_share_moves_to_the_workers_when_the_caller_is_busy_between_batches(eager):
    import time

    p = label_pool.LabelPool(SourceClassifier(), workers=1)
    rows = web_rows(400)
    try:
        first = p.share
        for _ in range(3):
            wait = p.submit(rows, None)
            time.sleep(0.3)  # the builder reading the next chunk
            assert len(wait()) == len(rows)
        assert p.share < first / 2  # the workers now take most of each batch
    finally:
        p.close()


@pytest.mark.parametrize("workers", [1, 2])  # with two, one batch's several futures all fail
def test_workers_that_cannot_start_fall_back_to_labelling_here(eager, tmp_path, workers):
    taxonomy = tmp_path / "mine.toml"
    taxonomy.write_text('[meta]\nname = "mine"\nversion = "1"\n\n[stock.hosts]\n"example-stock.test" = 4.0\n')
    clf = SourceClassifier(str(taxonomy))
    rows = web_rows(300) + [{"url": "https://img.example-stock.test/1.jpg", "caption": "a photo"}]
    expected = [clf.classify(r["url"], r["caption"], columns=r, image=r).fields() for r in rows]
    assert expected[-1]["label"] == "stock"
    p = label_pool.LabelPool(clf, workers=workers)
    taxonomy.unlink()  # the workers rebuild the classifier from this file: now they cannot start
    try:
        with pytest.warns(RuntimeWarning, match="labelling continues in this process"):
            # two batches in flight, as the builder keeps them: both come back whole
            first, second = p.submit(rows, None), p.submit(rows[::-1], None)
            values = [tuple(e.values()) for e in expected]  # submit() gives the fields' values, named by p.names
            assert first() == values  # no row lost, same labels
            assert second() == values[::-1]
        assert p.label(rows[:50], None) == expected[:50] and not p.active  # and no more attempts
    finally:
        p.close()
