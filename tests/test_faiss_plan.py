"""The automatic FAISS choice, nprobe tuning, exact re-ranking, and search ids matching metadata rows."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from helpers import run_cli, write_clip_retrieval
from provenance.errors import UsageError
from provenance.index import build_index, open_index
from provenance.index.exact import StoredVectors, exact_knn, recall_at
from provenance.index.faiss_plan import choose_plan, default_budget
from provenance.index.store import PartReader
from provenance.index.synthetic import GaussianMixture

DIM = 256  # the tiny encoder's dimension: precomputed vectors must match the index's encoder


@pytest.fixture(scope="module")
def mixture():
    return GaussianMixture(dim=DIM, clusters=64, seed=3)


@pytest.fixture(scope="module")
def clustered_index(tmp_path_factory, mixture):
    """6000 clustered vectors indexed with a budget that forces IVF-PQ with re-ranking, in many parts."""
    root = tmp_path_factory.mktemp("plan")
    vectors = mixture.sample(0, 6000)
    rows = [{"key": f"k{i}", "url": f"https://example.com/{i}.jpg", "caption": f"item {i}"} for i in range(len(vectors))]
    src = write_clip_retrieval(root / "emb", vectors, rows, per_file=2500)
    budget = 6000 * 120  # 120 B/vector, well under the 1 KB of raw float32
    report = build_index(root / "ix", str(src), encoder="tiny", memory_budget=budget, commit_every=700,
                         progress=False, target_recall=0.95)
    return open_index(root / "ix"), report


def test_choice_follows_size_and_budget():
    assert choose_plan(50_000, 512).factory == "Flat"
    one_m = choose_plan(1_000_000, 512)
    assert one_m.factory.startswith("IVF") and "PQ" in one_m.factory and one_m.rerank
    assert one_m.bytes_per_vector <= 512 * 4 / 4  # a quarter of raw float32
    ten_m = choose_plan(10_000_000, 512)
    assert ten_m.bytes_per_vector <= 128  # a sixteenth of raw float32, ids and centroids included
    assert ten_m.nlist > one_m.nlist
    roomy = choose_plan(1_000_000, 512, memory_budget=4 << 30)
    assert roomy.factory.endswith(",Flat") and roomy.rerank is None and roomy.metric == "ip"
    assert choose_plan(1_000_000, 512, factory="IVF256,SQ8").user_factory
    assert default_budget(1_000_000, 512) == 1_000_000 * 512
    with pytest.raises(UsageError, match="too small"):
        choose_plan(1_000_000, 512, memory_budget=10 << 20)


def test_tuning_reaches_target_on_held_out_queries(clustered_index, mixture):
    ix, report = clustered_index
    faiss = ix.manifest["faiss"]
    assert "PQ" in faiss["factory"] and faiss["metric"] == "l2"
    tuning = faiss["tuning"]
    assert tuning["reached"] and tuning["recall_at_10"] >= 0.95
    assert faiss["nprobe"] == report.faiss["nprobe"] and faiss["nprobe"] >= 1 and faiss["rerank"] >= 2
    assert faiss["bytes_per_vector"] <= 120
    # Fresh queries from the same mixture, never indexed: recall against exact search.
    queries = mixture.queries(200)
    _, truth = exact_knn(queries, ix.parts.iter_vectors(batch=1000), 10)
    _, found = ix.search(queries, 10)
    assert recall_at(found, truth, 10) >= 0.93
    # Fewer probes than tuned must be measurably worse, or tuning chose too many.
    _, coarse = ix.search(queries, 10, nprobe=1)
    assert recall_at(coarse, truth, 10) < recall_at(found, truth, 10)


def test_reranked_scores_are_exact_and_ordered(clustered_index, mixture):
    ix, _ = clustered_index
    queries = mixture.queries(20)
    scores, ids = ix.search(queries, 10)
    assert (ids >= 0).all()
    for q, s, i in zip(queries, scores, ids):
        exact = ix.vectors(i) @ q
        np.testing.assert_allclose(s, exact, rtol=0, atol=1e-5)
        assert np.all(np.diff(s) <= 1e-7)
    # The top result is the exact nearest neighbour for (nearly) every query.
    _, truth = exact_knn(queries, ix.parts.iter_vectors(), 1)
    assert np.mean(ids[:, 0] == truth[:, 0]) >= 0.9


def test_search_ids_match_metadata_rows(clustered_index):
    ix, _ = clustered_index
    picks = [0, 699, 700, 2501, 5999]  # part and file boundaries
    vecs = ix.vectors(picks)
    scores, ids = ix.search(vecs, 5)
    assert list(ids[:, 0]) == picks
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-4)
    assert [r["key"] for r in ix.rows(ids[:, 0])] == [f"k{p}" for p in picks]
    table = ix.metadata(["id", "key"])
    assert table.column("key")[int(ids[2, 0])].as_py() == "k700"


def test_stored_vectors_gather_across_parts(clustered_index):
    ix, _ = clustered_index
    store = StoredVectors(PartReader(ix.path, ix.manifest["parts"]))
    ids = np.array([5999, 0, 1400, 699, 700, 3])
    np.testing.assert_array_equal(store.gather(ids), ix.vectors(list(ids)))
    with pytest.raises(IndexError):
        store.gather(np.array([6000]))


def test_stored_vectors_gather_with_fewer_descriptors_than_parts(clustered_index):
    ix, _ = clustered_index
    store = StoredVectors(PartReader(ix.path, ix.manifest["parts"]))
    store.MAX_OPEN = 2  # 9 parts: reads go a few parts at a time, older descriptors closed
    ids = np.array([5999, 0, 1400, 699, 700, 3, 4900, 2100, 5600, 3500, 0])
    np.testing.assert_array_equal(store.gather(ids), ix.vectors(list(ids)))
    assert len(store._open) <= 2 and (store._fd >= 0).sum() == len(store._open)
    np.testing.assert_array_equal(store.gather(ids[::-1]), ix.vectors(list(ids[::-1])))


def test_long_gathers_read_in_threads(clustered_index, monkeypatch):
    from provenance.index import exact

    ix, _ = clustered_index
    store = StoredVectors(PartReader(ix.path, ix.manifest["parts"]))
    ids = np.random.default_rng(2).choice(6000, size=101, replace=True)
    want = ix.vectors(list(ids))
    monkeypatch.setattr(exact, "_cores", lambda: 3)
    monkeypatch.setattr(exact, "READ_CHUNK", 7)  # 15 chunks shared by 3 threads
    threads = []
    read = StoredVectors._read

    def noting(self, fds, pos):
        threads.append(threading.get_ident())
        time.sleep(0.002)  # slow reads, so that every thread gets chunks
        return read(self, fds, pos)

    monkeypatch.setattr(StoredVectors, "_read", noting)
    np.testing.assert_array_equal(store.gather(ids), want)
    assert len(threads) == 15 and len(set(threads)) > 1
    calls = []

    def failing(self, fds, pos):
        calls.append(1)
        if len(calls) == 4:
            raise OSError("disk gone")
        return read(self, fds, pos)

    monkeypatch.setattr(StoredVectors, "_read", failing)
    with pytest.raises(OSError, match="disk gone"):
        store.gather(ids)


def test_rerank_equals_brute_force_over_the_candidates(clustered_index, mixture, monkeypatch):
    """Exact top-k among each row's candidates, for single queries and batches that share candidates,
    with missing candidates (-1), and with read rounds that do not divide the batch."""
    from provenance.index import exact

    ix, _ = clustered_index
    store = ix.stored_vectors
    rng = np.random.default_rng(5)
    queries = mixture.queries(23)
    shared = rng.choice(6000, size=60, replace=False)
    cand = np.stack([rng.permutation(np.concatenate([shared[:25], rng.choice(6000, 15, replace=False)]))
                     for _ in range(len(queries))])
    cand = np.array([list(dict.fromkeys(row.tolist()))[:36] for row in cand])  # distinct per query
    cand[3, 30:] = -1
    cand[7, :] = -1
    cand[11, 1:] = -1

    def brute(q, row, k):
        ok = row[row >= 0]
        s = ix.vectors(list(ok)) @ q if len(ok) else np.zeros(0, np.float32)
        order = np.argsort(-s, kind="stable")[:k]
        return s[order], ok[order]

    for read in (65_536, 5 * 36, 36):
        monkeypatch.setattr(exact, "RERANK_READ", read)
        for batch in (cand, cand[:1], cand[3:4], cand[7:8]):
            qs = queries[: len(batch)] if batch is cand else queries[np.flatnonzero((cand == batch[0]).all(axis=1))[:1]]
            scores, ids = exact.rerank(qs, batch, store, 10)
            assert scores.shape == ids.shape == (len(batch), 10)
            for q, row, s, i in zip(qs, batch, scores, ids):
                want_s, want_i = brute(q, row, 10)
                n = len(want_i)
                np.testing.assert_array_equal(i[:n], want_i)
                np.testing.assert_allclose(s[:n], want_s, rtol=0, atol=1e-5)
                assert (i[n:] == -1).all() and np.isneginf(s[n:]).all()


def test_exact_knn_excludes_own_row():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    own = np.array([3, 250, 499])
    s, i = exact_knn(x[own], [x[:200], x[200:]], 4, exclude=own)
    assert not np.any(i == own[:, None])
    full = x[own] @ x.T
    full[np.arange(3), own] = -np.inf
    np.testing.assert_array_equal(i, np.argsort(-full, axis=1)[:, :4])
    np.testing.assert_allclose(s, -np.sort(-full, axis=1)[:, :4], rtol=1e-5)
    # batches smaller than k, a query not drawn from the vectors (-1), fewer vectors than k
    s2, i2 = exact_knn(x[own], [x[j:j + 3] for j in range(0, 500, 3)], 4, exclude=np.array([3, -1, 499]))
    np.testing.assert_array_equal(i2[[0, 2]], i[[0, 2]])
    assert i2[1].tolist() == np.argsort(-(x[250] @ x.T))[:4].tolist()
    s3, i3 = exact_knn(x[:2], [x[:3]], 5, exclude=np.array([0, 1]))
    assert i3[0].tolist() == [*sorted([1, 2], key=lambda j: -float(x[0] @ x[j])), -1, -1, -1]
    assert np.isneginf(s3[:, 2:]).all() and np.isfinite(s3[:, :2]).all()
    s4, i4 = exact_knn(x[:2], [x[:3]], 5, exclude=np.array([-1, 2]))  # -1: nothing of its own to drop
    assert sorted(i4[0][:3].tolist()) == [0, 1, 2] and i4[0][3:].tolist() == [-1, -1]
    assert sorted(i4[1][:2].tolist()) == [0, 1] and i4[1][2:].tolist() == [-1, -1, -1]


def test_append_keeps_ids_and_retunes(tmp_path, mixture):
    first = mixture.sample(0, 3000)
    second = mixture.sample(3000, 1500)
    mk = lambda lo, n: [{"key": f"k{i}", "caption": f"item {i}"} for i in range(lo, lo + n)]  # noqa: E731
    a = write_clip_retrieval(tmp_path / "a", first, mk(0, 3000), per_file=3000)
    b = write_clip_retrieval(tmp_path / "b", second, mk(3000, 1500), per_file=1500)
    run_cli("index", tmp_path / "ix", "--from", a, "--encoder", "tiny", "--memory-budget", "400KB", "--no-progress")
    r = run_cli("index", tmp_path / "ix", "--from", b, "--append", "--no-progress", "--json")
    doc = json.loads(r.stdout)
    assert doc["count"] == 4500 and doc["faiss"]["tuning"]["queries"] == 300
    ix = open_index(tmp_path / "ix")
    _, ids = ix.search(second[:3], 1)
    assert list(ids[:, 0]) == [3000, 3001, 3002]
    assert [r["key"] for r in ix.rows(ids[:, 0])] == ["k3000", "k3001", "k3002"]


def test_tuning_skips_only_configurations_slower_than_the_best(clustered_index, monkeypatch):
    """With a cost model that grows with probes and depth, the pruned grid search still returns the
    cheapest configuration an exhaustive search of the doubling grid would, while evaluating fewer
    configurations; the refinement between its steps then only ever picks something cheaper that
    reaches the aim."""
    import copy

    import faiss

    from provenance.index import faiss_plan

    ix, _ = clustered_index
    plan = faiss_plan.IndexPlan.from_dict(copy.deepcopy(ix.manifest["faiss"]))
    cost = lambda p, depth: 0.05 * p + 0.01 * (depth or 0)  # noqa: E731
    timed = []

    def model(index, plan, q, store, p, depth):
        timed.append(q)
        return cost(p, depth)

    monkeypatch.setattr(faiss_plan, "_single_query_ms", model)
    index = faiss.read_index(str(ix.path / ix.manifest["faiss"]["file"]))
    tuned = faiss_plan.tune(index, plan, ix.parts, target_recall=0.95)
    grid = tuned.tuning["grid"]
    aim = tuned.tuning["aimed_at"]
    # Exhaustive: every (probes, depth) the pruned search could have picked.
    store = StoredVectors(ix.parts)
    ids = np.sort(np.random.default_rng(99).choice(index.ntotal, size=tuned.tuning["queries"], replace=False))
    q = store.gather(ids)
    _, truth = exact_knn(q, ix.parts.iter_vectors(), 10, exclude=ids)
    ivf = faiss.try_extract_index_ivf(index)

    def reaches(p, depth):
        _, found = faiss_plan.search(index, plan, q, 11, store, nprobe=p, rerank=depth)
        found = np.array([[i for i in row if i != own][:10] for row, own in zip(found, ids)])
        return recall_at(found, truth, 10) >= aim

    candidates = [cost(p, depth) for depth in faiss_plan.RERANK_STEPS for p in (1, 2, 4, 8, 16, 32, 64)
                  if p <= ivf.nlist and reaches(p, depth)]
    assert candidates and tuned.tuning["reached"]
    coarse = [g for g in grid if not g.get("refined")]
    assert min(g["ms_per_query"] for g in coarse if g["recall_at_10"] >= aim) == pytest.approx(min(candidates), abs=1e-4)
    # Refinement: the steps between the doubling ones, next to every coarse configuration that
    # reached the aim; the cheapest of all that reach it wins, checked against search itself.
    refined = [g for g in grid if g.get("refined")]
    assert refined
    tried = {(g["nprobe"], g["rerank"]): g["recall_at_10"] >= aim for g in grid}
    for g in coarse:
        if g["recall_at_10"] >= aim:
            for p, depth in faiss_plan._refinements(g["nprobe"], g["rerank"]):
                if p > ivf.nlist or (p, depth) in tried:
                    continue
                # skipped: decided by monotonicity, short of the aim with more search or beaten with less
                assert any((q >= p and d >= depth and not ok) or (q <= p and d <= depth and ok)
                           for (q, d), ok in tried.items()), (p, depth)
    for g in refined:
        assert reaches(g["nprobe"], g["rerank"]) == (g["recall_at_10"] >= aim)
    reaching = [cost(g["nprobe"], g["rerank"]) for g in grid if g["recall_at_10"] >= aim]
    assert tuned.tuning["ms_single_query"] == pytest.approx(min(reaching), abs=1e-4)
    assert min(reaching) <= min(candidates)
    assert cost(tuned.nprobe, tuned.rerank) == pytest.approx(min(reaching), abs=1e-4)
    # Latency is never timed on the recall queries (their candidates were just read).
    recall_rows = {row.tobytes() for row in q}
    assert timed and not any(row.tobytes() in recall_rows for t in timed for row in t)
    # Pruning: once a depth's cheapest setting is slower than the best, no deeper depth is tried.
    best_ms = min(g["ms_per_query"] for g in coarse if g["recall_at_10"] >= aim)
    depths_seen = list(dict.fromkeys(g["rerank"] for g in coarse))
    slow_from_start = [d for d in depths_seen if next(g for g in coarse if g["rerank"] == d)["ms_per_query"] >= best_ms]
    assert len(slow_from_start) <= 1 and slow_from_start in ([], [depths_seen[-1]])


def test_small_batches_search_on_fewer_openmp_threads():
    """FAISS splits a batch over OpenMP threads by query; a batch too small to keep each thread busy
    runs on fewer (a team waits for its slowest thread's time slice on a shared machine), and the
    caller's setting is restored afterwards."""
    import faiss

    from provenance.index import faiss_plan

    seen = []

    class Recorder:  # stands in for a FAISS index: notes the threads FAISS would use
        ntotal = 1000
        nprobe = 4

        def search(self, x, k):
            seen.append(faiss.omp_get_max_threads())
            return np.zeros((len(x), k), np.float32), np.zeros((len(x), k), np.int64)

    plan = faiss_plan.IndexPlan(factory="IVF16,Flat", nprobe=4)
    per = faiss_plan.SEARCH_QUERIES_PER_THREAD
    before = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(4)
        assert faiss_plan.search_threads(1) is None  # one query: FAISS runs it on one thread anyway
        assert faiss_plan.search_threads(2) == 1 and faiss_plan.search_threads(2 * per - 1) == 1
        assert faiss_plan.search_threads(2 * per) == 2 and faiss_plan.search_threads(3 * per) == 3
        assert faiss_plan.search_threads(4 * per) is None and faiss_plan.search_threads(1000) is None
        for nq, threads in ((1, 4), (3, 1), (2 * per, 2), (100 * per, 4)):
            faiss_plan.search(Recorder(), plan, np.zeros((nq, 8), np.float32), 5)
            assert seen.pop() == threads
            assert faiss.omp_get_max_threads() == 4
        faiss.omp_set_num_threads(1)
        assert faiss_plan.search_threads(1000) is None
    finally:
        faiss.omp_set_num_threads(before)


def test_nprobe_given_to_one_search_does_not_stick(clustered_index, mixture):
    ix, _ = clustered_index
    queries = mixture.queries(30)
    tuned = ix.manifest["faiss"]["nprobe"]
    s1, i1 = ix.search(queries, 10)
    _, coarse = ix.search(queries, 10, nprobe=1)
    assert ix.faiss_index.nprobe == 1 and not np.array_equal(coarse, i1)
    s2, i2 = ix.search(queries, 10)
    assert ix.faiss_index.nprobe == tuned
    np.testing.assert_array_equal(i2, i1)
    np.testing.assert_array_equal(s2, s1)
