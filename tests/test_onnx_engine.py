"""The compiled (ONNX Runtime) query encoder: torch's vectors without torch's start-up, used only where
it is exact, and never silently different (damaged caches and failed exports fall back to torch)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import edited_copy

import provenance
from provenance.encoders import onnx_engine
from provenance.errors import UsageError
from provenance.index import build_index, open_index


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A cache of this test's own: each test starts with nothing compiled."""
    root = tmp_path / "cache"
    monkeypatch.setenv("PROVENANCE_CACHE", str(root))
    monkeypatch.delenv(onnx_engine.ENGINE_ENV, raising=False)
    return root / "onnx"


@pytest.fixture
def folder_index(tmp_path, image_folder) -> Path:
    """An index built with torch, so that nothing is compiled before the test's first trace."""
    build_index(tmp_path / "idx", str(image_folder), encoder="tiny", engine="torch", progress=False)
    return tmp_path / "idx"


def _queries(tmp_path, photos, names=("astronaut", "rocket", "coffee")) -> list[Path]:
    out = []
    for name in names:
        p = tmp_path / f"gen-{name}.jpg"
        edited_copy(photos[name]).save(p)
        out.append(p)
    return out


def test_first_trace_compiles_and_later_ones_use_the_same_vectors(cache, cli_run, folder_index, photos):
    info = json.loads(cli_run("info", folder_index, "--json").stdout)
    assert info["compiled_query_encoder"]["state"] == "not compiled"
    ix = open_index(folder_index)
    fingerprint = ix.encoder_identity.fingerprint
    first = ix.image_encoder(precision="fp32")
    assert first.engine == "torch"  # nothing compiled yet: torch embeds this trace ...
    meta = json.loads((cache / f"{fingerprint}.json").read_text())
    assert (cache / f"{fingerprint}.onnx").stat().st_size > 0  # ... and leaves the compiled copy for the next
    assert meta["identity"] == ix.manifest["encoder"] and meta["min_cosine_vs_torch"] >= onnx_engine.MIN_COSINE
    assert "compiled query encoder: compiled" in cli_run("info", folder_index).stdout

    compiled = open_index(folder_index).image_encoder(precision="fp32")
    assert compiled.engine == "onnx" and compiled.precision == "fp32" and compiled.device == "cpu"
    assert compiled.identity == ix.encoder_identity and compiled.dim == first.dim
    ims = list(photos.values())
    np.testing.assert_allclose(compiled.embed_images(ims, batch_size=4), first.embed_images(ims, batch_size=4), atol=2e-5)
    with pytest.raises(provenance.ProvenanceError, match="images only"):
        compiled.embed_texts(["a cat"])


def test_traces_agree_between_engines(cache, folder_index, tmp_path, photos):
    queries = _queries(tmp_path, photos)
    ix = open_index(folder_index)
    by_torch = ix.trace(queries, k=5, ocr=False, faces=False, engine="torch")
    assert not list(cache.glob("*.onnx"))  # --engine torch never compiles
    ix.trace(queries[:1], k=5, ocr=False, faces=False)  # compiles
    again = open_index(folder_index)
    by_onnx = again.trace(queries, k=5, ocr=False, faces=False)
    assert again.image_encoder(precision="auto").engine == "onnx"
    for a, b in zip(by_torch, by_onnx):
        assert [n.id for n in a.neighbours] == [n.id for n in b.neighbours]
        np.testing.assert_allclose([n.similarity for n in a.neighbours], [n.similarity for n in b.neighbours], atol=1e-5)
        assert a.composition == b.composition and a.near_duplicate == b.near_duplicate


@pytest.mark.parametrize("damage", ["truncated graph", "truncated weights", "other vectors"])
def test_a_damaged_compiled_copy_falls_back_to_torch(cache, folder_index, caplog, damage):
    ix = open_index(folder_index)
    fingerprint = ix.encoder_identity.fingerprint
    ix.image_encoder(precision="fp32")
    onnx_file, meta_file = cache / f"{fingerprint}.onnx", cache / f"{fingerprint}.json"
    weights = onnx_file.with_suffix(".weights")
    assert weights.stat().st_size > onnx_file.stat().st_size  # the weights live beside the graph, mapped on load
    if damage.startswith("truncated"):
        f = onnx_file if damage == "truncated graph" else weights
        f.write_bytes(f.read_bytes()[:5000])
    else:  # what torch gave at export time no longer matches what ONNX Runtime computes
        meta = json.loads(meta_file.read_text())
        meta["probe_embedding"] = [[-v for v in meta["probe_embedding"][0]]]
        meta_file.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="provenance.encoders.onnx_engine"):
        enc = open_index(folder_index).image_encoder(precision="fp32")
    assert enc.engine == "torch"
    assert "using torch" in caplog.text
    assert open_index(folder_index).image_encoder(precision="fp32").engine == "onnx"  # made again from the model


def test_a_failed_export_is_remembered_not_retried(cache, folder_index, monkeypatch):
    import torch

    calls = []

    def failing_export(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("Exporting the operator 'aten::made_up' is not supported")

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    ix = open_index(folder_index)
    assert ix.image_encoder(precision="fp32").engine == "torch"
    meta = json.loads((cache / f"{ix.encoder_identity.fingerprint}.json").read_text())
    assert "made_up" in meta["failed"]
    assert onnx_engine.status(ix.encoder_identity.fingerprint)["state"] == "failed"
    assert [p.name for p in cache.iterdir()] == [f"{ix.encoder_identity.fingerprint}.json"]  # no half-written files
    assert open_index(folder_index).image_encoder(precision="fp32").engine == "torch"
    assert len(calls) == 1  # the second trace did not pay for another attempt


def test_when_the_compiled_copy_is_used(monkeypatch):
    monkeypatch.delenv(onnx_engine.ENGINE_ENV, raising=False)
    monkeypatch.setattr(onnx_engine, "gpu_present", lambda: False)
    wanted = onnx_engine.wanted
    assert wanted(None, spec=None, device=None, precision="fp32")
    assert wanted("auto", spec=None, device="cpu", precision="fp32")
    assert not wanted(None, spec="open_clip:ViT-B-32@w.safetensors", device=None, precision="fp32")  # only torch checks weights
    assert not wanted(None, spec=None, device=None, precision="bf16")  # reduced precision: torch
    assert not wanted("torch", spec=None, device=None, precision="fp32")
    assert wanted("onnx", spec="tiny", device=None, precision="fp32")
    monkeypatch.setenv(onnx_engine.ENGINE_ENV, "torch")
    assert not wanted(None, spec=None, device=None, precision="fp32")
    monkeypatch.setattr(onnx_engine, "gpu_present", lambda: True)
    monkeypatch.delenv(onnx_engine.ENGINE_ENV)
    assert not wanted(None, spec=None, device=None, precision="fp32")  # a GPU: torch on it
    assert wanted(None, spec=None, device="cpu", precision="fp32")
    with pytest.raises(UsageError, match="float32"):
        wanted("onnx", spec=None, device="cuda", precision="fp32")
    with pytest.raises(UsageError, match="unknown query engine"):
        wanted("tensorrt", spec=None, device=None, precision="fp32")


def test_a_compiled_trace_does_not_import_torch(cache, folder_index, tmp_path, photos):
    queries = _queries(tmp_path, photos, names=("astronaut",))
    ix = open_index(folder_index)
    expected = ix.trace(queries, k=4, ocr=False, faces=False, engine="torch")[0]
    ix.image_encoder(precision="fp32")  # compiles into this test's cache
    code = (
        "import json, sys, provenance\n"
        f"ix = provenance.open_index({str(folder_index)!r})\n"
        f"r = ix.trace([{str(queries[0])!r}], k=4, ocr=False, faces=False)[0]\n"
        "print(json.dumps({'ids': [n.id for n in r.neighbours], 'torch': 'torch' in sys.modules,"
        " 'open_clip': 'open_clip' in sys.modules}))\n"
    )
    env = {**__import__("os").environ, "PROVENANCE_CACHE": str(cache.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"ids": [n.id for n in expected.neighbours], "torch": False, "open_clip": False}


def test_cli_engine_option(cache, cli_run, folder_index, tmp_path, photos):
    q = _queries(tmp_path, photos, names=("rocket",))[0]
    by_torch = json.loads(cli_run("trace", q, "--index", folder_index, "-k", "4", "--engine", "torch", "--no-ocr", "--json").stdout)
    cli_run("trace", q, "--index", folder_index, "-k", "4", "--no-ocr", "--json")  # compiles
    by_onnx = json.loads(cli_run("trace", q, "--index", folder_index, "-k", "4", "--engine", "onnx", "--no-ocr", "--json").stdout)
    assert [n["id"] for n in by_torch["results"][0]["neighbours"]] == [n["id"] for n in by_onnx["results"][0]["neighbours"]]
    bad = cli_run("trace", q, "--index", folder_index, "--engine", "onnx", "--precision", "bf16", expect=2)
    assert "float32" in bad.output and "Traceback" not in bad.output


def test_report_records_the_query_engine(cache, folder_index, tmp_path, photos):
    from provenance.report import run_report

    gens = tmp_path / "gens"
    gens.mkdir()
    for p in _queries(tmp_path, photos):
        p.rename(gens / p.name)
    open_index(folder_index).image_encoder(precision="fp32")  # compiled before the report
    run_report(open_index(folder_index), str(gens), tmp_path / "rep", k=3, ocr=False, faces=False)
    run = json.loads((tmp_path / "rep" / "run.json").read_text())
    assert run["query_encoder"] == {"engine": "onnx", "precision": "fp32", "device": "cpu"}
    run_report(open_index(folder_index), str(gens), tmp_path / "rep2", k=3, ocr=False, faces=False, engine="torch")
    assert json.loads((tmp_path / "rep2" / "run.json").read_text())["query_encoder"]["engine"] == "torch"


def test_builds_embed_images_with_the_compiled_copy(cache, cli_run, tmp_path, image_folder):
    by_torch = json.loads(cli_run("index", tmp_path / "t", "--from", image_folder, "--encoder", "tiny", "--engine", "torch",
                                  "--no-progress", "--json").stdout)
    assert by_torch["embedding_engine"] == "torch" and not cache.exists()
    res = cli_run("index", tmp_path / "o", "--from", image_folder, "--encoder", "tiny", "--no-progress")
    assert "fp32 via onnx" in res.stdout  # float32 on the CPU: compiled at the start of the build, then used
    t, o = open_index(tmp_path / "t"), open_index(tmp_path / "o")
    assert o.manifest["embedding_engine"] == "onnx" and t.manifest["embedding_engine"] == "torch"
    assert o.encoder_identity == t.encoder_identity and o.manifest["precision"] == "fp32"
    keys_t, keys_o = t.metadata(["key"]).column("key").to_pylist(), o.metadata(["key"]).column("key").to_pylist()
    assert sorted(keys_t) == sorted(keys_o)
    vt, vo = t.vectors(), o.vectors()
    order = [keys_o.index(k) for k in keys_t]
    np.testing.assert_allclose(vo[order], vt, atol=2e-5)
    assert o.image_encoder(precision="fp32").engine == "onnx"  # the first trace after the build is fast already
    bad = cli_run("index", tmp_path / "b", "--from", image_folder, "--encoder", "tiny", "--engine", "onnx", "--precision",
                  "bf16", "--no-progress", expect=2)
    assert "float32" in bad.output and "Traceback" not in bad.output


def test_a_build_of_precomputed_embeddings_compiles_for_later_traces(cache, tmp_path):
    from helpers import write_clip_retrieval

    rows = [{"key": f"k{i}", "url": f"https://example.org/{i}.jpg", "caption": f"item {i}"} for i in range(12)]
    vecs = np.random.default_rng(3).standard_normal((12, 256)).astype(np.float32)
    src = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=6)
    report = build_index(tmp_path / "idx", str(src), encoder="tiny", fmt="embeddings", progress=False)
    assert report.embedding_engine is None  # nothing was embedded here ...
    ix = open_index(tmp_path / "idx")
    assert onnx_engine.status(ix.encoder_identity.fingerprint)["state"] == "compiled"  # ... but traces will need it
    assert ix.image_encoder(precision="fp32").engine == "onnx"
