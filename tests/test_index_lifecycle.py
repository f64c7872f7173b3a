"""Index store lifecycle: layout, append, idempotent re-runs, overwrite, locking, refusals."""

import json
import os

import numpy as np
import pytest
from helpers import write_folder, write_shards

import provenance
from provenance.errors import IndexLocked
from provenance.index.lock import WriteLock


def _json(r):
    return json.loads(r.stdout)


def test_store_layout_and_manifest(cli_run, tmp_path, photos, indexes_home):
    write_shards(tmp_path / "s", photos, per_shard=4)
    cli_run("index", "x", "--from", tmp_path / "s", "--encoder", "tiny", "--commit-every", "5", "--no-progress")
    d = indexes_home / "x"
    m = json.loads((d / "manifest.json").read_text())
    assert m["format"] == "provenance-index" and m["format_version"] == 1
    assert m["count"] == 15 and m["dim"] == 256 and m["metric"] == "inner_product"
    assert m["encoder"]["spec"] == "tiny" and m["encoder"]["fingerprint"]
    assert m["faiss"]["factory"] == "Flat" and (d / m["faiss"]["file"]).exists()
    assert m["precision"] in ("fp32", "bf16")
    assert sum(p["count"] for p in m["parts"]) == 15
    assert [p["first_id"] for p in m["parts"]] == [0, 4, 8, 12]  # one part per shard (4, 4, 4, 3 items)
    src = m["sources"][0]
    assert src["ingested"] == 15 and src["format"] == "webdataset" and src["skipped"] == 0
    for p in m["parts"]:
        assert (d / "parts" / f"{p['name']}.npy").exists() and (d / "parts" / f"{p['name']}.parquet").exists()
    assert not list(d.glob("**/.*tmp*")) and not (d / "LOCK").exists()
    info = _json(cli_run("info", "x", "--json"))
    assert info["count"] == 15


def test_rerun_is_up_to_date_and_new_source_needs_append(cli_run, tmp_path, photos):
    names = list(photos)
    write_folder(tmp_path / "one", photos, names[:8])
    write_folder(tmp_path / "two", photos, names[8:])
    cli_run("index", "x", "--from", tmp_path / "one", "--encoder", "tiny", "--no-progress")
    r = _json(cli_run("index", "x", "--from", tmp_path / "one", "--json"))
    assert r["up_to_date"] and r["count"] == 8
    r = cli_run("index", "x", "--from", tmp_path / "two", expect=2)
    assert "--append" in r.stderr and "--overwrite" in r.stderr
    r = _json(cli_run("index", "x", "--from", tmp_path / "two", "--append", "--json", "--no-progress"))
    assert r["added"] == 7 and r["count"] == 15
    m = provenance.open_index("x").manifest
    assert m["generation"] == 2 and len(m["sources"]) == 2
    assert sorted(provenance.open_index("x").metadata().column("id").to_pylist()) == list(range(15))


def test_append_skips_keys_already_present(cli_run, tmp_path, photos):
    shards = write_shards(tmp_path / "s", photos, per_shard=4)
    cli_run("index", "x", "--from", shards[0], "--from", shards[1], "--encoder", "tiny", "--no-progress")
    # a copy of shard 1 under another directory: same shard name and keys -> already indexed
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / shards[1].name).write_bytes(shards[1].read_bytes())
    r = _json(cli_run("index", "x", "--from", tmp_path / "copy" / shards[1].name, "--from", shards[2], "--append", "--json", "--no-progress"))
    assert r["already_indexed"] == 4 and r["added"] == 4 and r["count"] == 12
    keys = provenance.open_index("x").metadata(["key"]).column("key").to_pylist()
    assert len(keys) == len(set(keys)) == 12


def test_overwrite_rebuilds(cli_run, tmp_path, photos):
    names = list(photos)
    write_folder(tmp_path / "one", photos, names[:5])
    write_folder(tmp_path / "two", photos, names[5:7])
    cli_run("index", "x", "--from", tmp_path / "one", "--encoder", "tiny", "--no-progress")
    r = _json(cli_run("index", "x", "--from", tmp_path / "two", "--overwrite", "--encoder", "tiny", "--json", "--no-progress"))
    assert r["count"] == 2
    r = cli_run("index", "x", "--from", tmp_path / "two", "--overwrite", "--append", expect=2)
    assert "contradict" in r.stderr


def test_append_with_another_encoder_is_refused(cli_run, tmp_path, photos):
    write_folder(tmp_path / "one", photos, list(photos)[:3])
    write_folder(tmp_path / "two", photos, list(photos)[3:5])
    cli_run("index", "x", "--from", tmp_path / "one", "--encoder", "tiny", "--no-progress")
    r = cli_run("index", "x", "--from", tmp_path / "two", "--append", "--encoder", "open_clip:ViT-B-32", expect=2)
    assert "different model" in r.stderr


@pytest.mark.parametrize("args, code, words", [
    (["--from", "{tmp}/nothing-here"], 2, "does not exist"),
    (["--from", "{tmp}/empty", "--encoder", "tiny"], 1, "nothing to index"),
    (["--from", "{tmp}/junk", "--encoder", "tiny"], 1, "all 2 input(s) skipped"),
    (["--from", "{tmp}/one", "--encoder", "open_clip:ViT-B-99"], 2, "unknown open_clip architecture"),
    (["--from", "{tmp}/one", "--encoder", "tiny", "--format", "embeddings"], 1, "no img_emb/"),
    (["--from", "{tmp}/one", "--encoder", "tiny", "--memory-budget", "lots"], 2, "cannot read size"),
])
def test_bad_index_input(cli_run, tmp_path, photos, args, code, words):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_bytes(b"nope")
    (tmp_path / "junk" / "b.txt.bak").write_bytes(b"nope")
    write_folder(tmp_path / "one", photos, list(photos)[:2])
    r = cli_run("index", "x", *[a.format(tmp=tmp_path) for a in args], "--no-progress", expect=code)
    assert words in r.stderr
    assert "Traceback" not in r.output


def test_lock_refuses_a_live_writer_and_takes_over_a_dead_ones(tmp_path, cli_run, photos):
    d = tmp_path / "indexes" / "x"
    with WriteLock(d):
        with pytest.raises(IndexLocked) as e:
            WriteLock(d).acquire()
        assert str(os.getpid()) in str(e.value)
        write_folder(tmp_path / "one", photos, list(photos)[:2])
        r = cli_run("index", "x", "--from", tmp_path / "one", "--encoder", "tiny", expect=1)
        assert f"process {os.getpid()}" in r.stderr
    # a lock left by a process that no longer exists is stale
    d.mkdir(parents=True, exist_ok=True)
    (d / "LOCK").write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename, "since": "then"}))
    lock = WriteLock(d).acquire()
    assert lock.took_over_from == 2**22 + 12345
    lock.release()
    assert not (d / "LOCK").exists()


def test_search_api_shapes_and_errors(cli_run, tmp_path, photos):
    write_folder(tmp_path / "one", photos)
    cli_run("index", "x", "--from", tmp_path / "one", "--encoder", "tiny", "--no-progress")
    ix = provenance.open_index("x")
    v = ix.vectors()
    assert v.shape == (15, 256)
    scores, ids = ix.search(v, 3)
    assert ids[:, 0].tolist() == list(range(15))
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-4)
    with pytest.raises(provenance.ProvenanceError, match="dimension 3"):
        ix.search(np.zeros((1, 3)), 2)


def test_index_directories_inside_the_source_folder_are_not_input(cli_run, tmp_path, photos, monkeypatch):
    folder = write_folder(tmp_path / "photos", photos, names=["astronaut", "coffee", "rocket"])
    n_images = sum(1 for p in folder.rglob("*.jpg"))
    monkeypatch.setenv("PROVENANCE_INDEXES", str(folder / "indexes"))  # `provenance index x --from .` in the folder
    r = _json(cli_run("index", "first", "--from", folder, "--encoder", "tiny", "--no-progress", "--json"))
    # its own directory (LOCK, journal, parts) is not input: one skip that says so, nothing else
    assert r["count"] == n_images
    assert r["skip_reasons"] == {"provenance index directory": 1}
    # a second index of the same folder: the first one's files (parts, FAISS, manifest) are not read either
    r2 = _json(cli_run("index", "second", "--from", folder, "--encoder", "tiny", "--no-progress", "--json"))
    assert r2["count"] == n_images
    assert r2["skip_reasons"] == {"provenance index directory": 2}
    refs = {json.loads(line)["ref"] for line in (folder / "indexes" / "second" / "skipped.jsonl").read_text().splitlines()}
    assert refs == {str(folder / "indexes" / "first"), str(folder / "indexes" / "second")}


def test_a_full_disk_is_a_clear_error_and_the_build_resumes(cli_run, tmp_path, monkeypatch):
    """ENOSPC while writing a part: one line saying what to do (no traceback), exit 1, and the same
    command finishes the build once there is room."""
    import errno

    from helpers import write_clip_retrieval

    import provenance.index.builder as builder

    rows = [{"key": f"k{i}", "url": f"https://x.org/{i}.jpg", "caption": "a photo"} for i in range(40)]
    vecs = np.random.default_rng(0).standard_normal((40, 256)).astype(np.float32)
    src = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=20)
    real_save, calls = builder.np.save, []

    def full_after_two_parts(f, arr, **kw):
        calls.append(1)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(f))
        return real_save(f, arr, **kw)

    monkeypatch.setattr(builder.np, "save", full_after_two_parts)
    args = ("index", "full", "--from", src, "--encoder", "tiny", "--commit-every", "8", "--no-progress")
    r = cli_run(*args, expect=1)
    assert "no space left on the device" in r.stderr and "re-run the same command" in r.stderr
    assert "Traceback" not in r.output + r.stderr
    monkeypatch.setattr(builder.np, "save", real_save)
    cli_run(*args)
    ix = provenance.open_index("full")
    assert ix.count == 40 and sorted(ix.metadata(["key"]).column("key").to_pylist()) == sorted(r["key"] for r in rows)


def test_a_build_that_cannot_fit_is_announced(cli_run, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from helpers import write_clip_retrieval

    rows = [{"key": f"k{i}", "url": f"https://x.org/{i}.jpg", "caption": "a photo"} for i in range(10)]
    src = write_clip_retrieval(tmp_path / "emb", np.ones((10, 256), np.float32), rows, per_file=10)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 5000, 5000))
    r = cli_run("index", "tight", "--from", src, "--encoder", "tiny", "--no-progress")
    assert "warning:" in r.stderr and "0.0 GB free" in r.stderr and "10 vectors" in r.stderr


@pytest.mark.parametrize("error, code, says", [
    (BrokenPipeError(32, "Broken pipe"), 0, ""),  # `provenance ... | head`: no failure, no traceback
    (OSError(28, "No space left on device", "out/report.html"), 1, "no space left on the device (writing out/report.html)"),
])
def test_os_errors_of_any_command(cli_run, error, code, says):
    from provenance.cli import cli

    @cli.command("raise-for-test")
    def _raise():
        raise error

    try:
        r = cli_run("raise-for-test", expect=code)
    finally:
        cli.commands.pop("raise-for-test")
    assert says in r.stderr and "Traceback" not in r.stderr
