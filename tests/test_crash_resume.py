"""Kill a real `provenance index` process part way (SIGKILL), re-run the same command, and check the result.

Each scenario must end with exactly one copy of every good input item (no duplicates, none
missing), identical to an uninterrupted build, and at no point may a reader see a half-written
index: there is either no committed index or a complete previous generation.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import write_folder

import provenance

COMMIT_EVERY = "3"


def _run(folder, index_dir, failpoint=None, extra=(), wait=True):
    env = dict(os.environ)
    env.pop("PROVENANCE_FAILPOINT", None)
    if failpoint:
        env["PROVENANCE_FAILPOINT"] = failpoint
    cmd = [sys.executable, "-m", "provenance", "index", str(index_dir), "--from", str(folder), "--encoder", "tiny",
           "--precision", "fp32", "--commit-every", COMMIT_EVERY, "--batch-size", "4", "--no-progress", *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _snapshot(index_dir):
    """Key -> vector of a committed index, checking it is whole and duplicate-free."""
    ix = provenance.Index(index_dir)
    keys = ix.metadata(["key"]).column("key").to_pylist()
    ids = ix.metadata(["id"]).column("id").to_pylist()
    assert len(keys) == len(set(keys)) == ix.count == ix.faiss_index.ntotal
    assert sorted(ids) == list(range(ix.count))
    vecs = ix.vectors()
    return {k: vecs[i] for i, k in zip(ids, keys)}


def _assert_readable_or_absent(index_dir, expect_count=None):
    if not (index_dir / "manifest.json").exists():
        assert expect_count is None
        return
    snap = _snapshot(index_dir)
    if expect_count is not None:
        assert len(snap) == expect_count


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from helpers import load_photos

    photos = load_photos()
    # 15 photos + rotated variants = 30 items -> 10 parts of 3
    more = {**photos, **{f"{n}-r": im.rotate(90, expand=True) for n, im in photos.items()}}
    root = tmp_path_factory.mktemp("corpus")
    folder = write_folder(root / "imgs", more)
    (folder / "a" / "broken.jpg").write_bytes(b"not an image")
    reference = root / "reference"
    code, out, err = _run(folder, reference)
    assert code == 0, err
    return folder, _snapshot(reference)


def _assert_same(snap, reference):
    assert set(snap) == set(reference)
    for k, v in reference.items():
        np.testing.assert_allclose(snap[k], v, atol=1e-5)


@pytest.mark.parametrize("point", ["part-written:1", "part-journaled:4", "faiss-written", "manifest-written"])
def test_killed_build_resumes_to_exactly_one_copy(corpus, tmp_path, point):
    folder, reference = corpus
    index_dir = tmp_path / "idx"
    code, out, err = _run(folder, index_dir, failpoint=point)
    assert code == -signal.SIGKILL, (code, err)
    _assert_readable_or_absent(index_dir, expect_count=None if point != "manifest-written" else len(reference))
    code, out, err = _run(folder, index_dir)
    assert code == 0, err
    _assert_same(_snapshot(index_dir), reference)
    skips = [json.loads(line) for line in (index_dir / "skipped.jsonl").read_text().splitlines()]
    assert [s["reason"] for s in skips] == ["not an image"]  # the bad input is reported once, not once per attempt
    assert not (index_dir / "LOCK").exists()


def test_killed_twice_at_random_moments(corpus, tmp_path):
    folder, reference = corpus
    index_dir = tmp_path / "idx"
    for parts_before_kill in (2, 5):
        proc = _run(folder, index_dir, wait=False)
        deadline = time.time() + 120
        journal = index_dir / "journal.jsonl"
        while time.time() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_text().count('"op":"part"') >= parts_before_kill:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        _assert_readable_or_absent(index_dir)
    code, out, err = _run(folder, index_dir)
    assert code == 0, err
    _assert_same(_snapshot(index_dir), reference)


def test_killed_append_keeps_previous_generation_readable(corpus, tmp_path):
    folder, reference = corpus
    first = tmp_path / "first"
    second = tmp_path / "second"
    names = sorted(p for p in folder.rglob("*.jpg") if "broken" not in p.name)
    first.mkdir()
    second.mkdir()
    for i, p in enumerate(names):
        (first if i < 10 else second).joinpath(p.name).write_bytes(p.read_bytes())
    index_dir = tmp_path / "idx"
    assert _run(first, index_dir)[0] == 0
    before = _snapshot(index_dir)
    code, _, err = _run(second, index_dir, failpoint="faiss-written", extra=["--append"])
    assert code == -signal.SIGKILL
    assert _snapshot(index_dir).keys() == before.keys()  # readers still see generation 1, whole
    code, _, err = _run(second, index_dir, extra=["--append"])
    assert code == 0, err
    snap = _snapshot(index_dir)
    assert len(snap) == len(names) and provenance.Index(index_dir).manifest["generation"] == 2


@pytest.fixture(scope="module")
def embeddings_corpus(tmp_path_factory):
    """Precomputed embeddings (ingested a block of rows at a time), with a duplicate key and a NaN row."""
    from helpers import write_clip_retrieval

    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((40, 256)).astype(np.float32)
    vecs[7, 0] = np.nan
    rows = [{"key": f"e{i}", "url": f"https://example.com/{i}.jpg", "caption": f"item {i}"} for i in range(40)]
    rows[25]["key"] = "e3"
    root = tmp_path_factory.mktemp("emb")
    src = write_clip_retrieval(root / "emb", vecs, rows, per_file=16)  # 3 files: parts end inside and at files
    code, out, err = _run(src, root / "reference")
    assert code == 0, err
    return src, _snapshot(root / "reference")


@pytest.mark.parametrize("point", ["part-written:2", "part-journaled:5"])
def test_killed_embeddings_build_resumes_to_exactly_one_copy(embeddings_corpus, tmp_path, point):
    src, reference = embeddings_corpus
    index_dir = tmp_path / "idx"
    code, out, err = _run(src, index_dir, failpoint=point)
    assert code == -signal.SIGKILL, (code, err)
    code, out, err = _run(src, index_dir)
    assert code == 0, err
    assert len(reference) == 38
    _assert_same(_snapshot(index_dir), reference)
    skips = [json.loads(line) for line in (index_dir / "skipped.jsonl").read_text().splitlines()]
    assert sorted(s["reason"] for s in skips) == ["duplicate key", "non-finite vector"]


def test_killed_build_still_reports_a_duplicate_of_a_row_committed_before_the_kill(tmp_path):
    """Item by item (a Hugging Face dataset with a key column): row 9 repeats row 1's key. Rows 0-5
    were committed when the build was killed; the resumed build re-reads them quietly and must
    still report row 9 as a duplicate rather than take it for one of its own committed rows."""
    import datasets
    from helpers import jpeg_bytes, load_photos

    photos = list(load_photos().values())[:12]
    keys = [f"u{i}" for i in range(12)]
    keys[9] = "u1"
    ds = datasets.Dataset.from_dict(
        {"img": [{"bytes": jpeg_bytes(p), "path": None} for p in photos], "uid": keys},
        features=datasets.Features({"img": datasets.Image(), "uid": datasets.Value("string")}))
    ds.save_to_disk(str(tmp_path / "ds"))
    extra = ["--format", "hf", "--key-col", "uid"]
    code, out, err = _run(tmp_path / "ds", tmp_path / "idx", failpoint="part-journaled:2", extra=extra)
    assert code == -signal.SIGKILL, (code, err)
    code, out, err = _run(tmp_path / "ds", tmp_path / "idx", extra=extra)
    assert code == 0, err
    assert sorted(_snapshot(tmp_path / "idx")) == sorted(set(keys))
    skips = [json.loads(line) for line in (tmp_path / "idx" / "skipped.jsonl").read_text().splitlines()]
    assert [(s["reason"], s["ref"].rsplit("[", 1)[-1]) for s in skips] == [("duplicate key", "9]")]
