"""Every ingest source, through the real CLI, on data the tests make."""

import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from helpers import add_tar_member, caption_for, jpeg_bytes, url_for, write_clip_retrieval, write_shards

import provenance


def _build(cli_run, name, *args):
    r = cli_run("index", name, *args, "--json", "--no-progress")
    return json.loads(r.stdout)


def test_folder_recursive_with_sidecars(cli_run, image_folder, photos):
    (image_folder / "README.md").write_text("not an image")
    (image_folder / "b" / "broken.jpg").write_bytes(b"this is no image at all")
    whole = jpeg_bytes(photos["chelsea"])
    (image_folder / "b" / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (image_folder / "a" / "empty.png").write_bytes(b"")
    rep = _build(cli_run, "f", "--from", image_folder, "--encoder", "tiny", "--commit-every", "5")
    assert rep["count"] == len(photos) and rep["added"] == len(photos)
    assert rep["skip_reasons"] == {"not an image file": 1, "not an image": 1, "truncated image": 1, "empty image file": 1}
    ix = provenance.open_index("f")
    t = ix.metadata()
    assert sorted(t.column("id").to_pylist()) == list(range(len(photos)))
    rows = {r["key"].rsplit("/", 1)[-1]: r for r in t.to_pylist()}
    assert rows["astronaut.jpg"]["caption"] == caption_for("astronaut")  # .txt sidecar
    assert rows["brick.jpg"]["url"] == url_for(1, "brick")  # .json sidecar
    assert rows["brick.jpg"]["pwatermark"] == pytest.approx(0.1)  # extra JSON field kept as a column
    assert rows["astronaut.jpg"]["width"] == 512
    assert ix.manifest["sources"][0]["format"] == "images"
    skipped = [json.loads(line) for line in (ix.path / "skipped.jsonl").read_text().splitlines()]
    assert {s["reason"] for s in skipped} == set(rep["skip_reasons"])


def test_webdataset_shards_brace_pattern_and_fsspec_url(cli_run, tmp_path, photos):
    shards = write_shards(tmp_path / "shards", photos, per_shard=4)
    assert len(photos) == 15 and len(shards) == 4
    rep = _build(cli_run, "w", "--from", str(tmp_path / "shards" / "{00000..00002}.tar"), "--encoder", "tiny")
    assert rep["count"] == 12
    ix = provenance.open_index("w")
    row = ix.rows([0])[0]
    assert row["key"] == "00000.tar:000000000" and row["caption"] == caption_for("astronaut")
    assert row["url"] == url_for(0, "astronaut") and row["shard"] == "00000.tar" and row["name"] == "astronaut"
    # an fsspec URL adds the last shard
    rep = _build(cli_run, "w", "--from", f"file://{shards[3]}", "--format", "webdataset", "--append")
    assert rep["count"] == 15 and rep["added"] == 3


def test_truncated_tar_and_unsafe_members_are_skipped_and_counted(cli_run, tmp_path, photos):
    root = tmp_path / "bad"
    root.mkdir()
    good = root / "00000.tar"
    with tarfile.open(good, "w") as tar:
        add_tar_member(tar, "/etc/evil.jpg", jpeg_bytes(photos["chelsea"]))
        add_tar_member(tar, "../up.jpg", jpeg_bytes(photos["chelsea"]))
        add_tar_member(tar, "k1.jpg", jpeg_bytes(photos["chelsea"]))
        add_tar_member(tar, "k1.txt", b"cat")
        add_tar_member(tar, "k2.txt", b"caption without image")
    data = bytearray()
    with tarfile.open(root / "full.tar", "w") as tar:
        for i, n in enumerate(["coins", "rocket", "horse"]):
            add_tar_member(tar, f"t{i}.jpg", jpeg_bytes(photos[n]))
    data = (root / "full.tar").read_bytes()
    (root / "full.tar").unlink()
    (root / "00001.tar").write_bytes(data[: len(data) // 2])  # cut in the middle of the second image
    rep = _build(cli_run, "bad", "--from", root, "--encoder", "tiny")
    reasons = rep["skip_reasons"]
    assert reasons["unsafe tar member path"] == 2
    assert reasons["no image in sample"] == 1
    assert reasons["truncated tar"] == 1
    assert rep["count"] >= 2  # k1 and t0 survive


def _tiny_vectors(photos):
    enc = provenance.load_encoder("tiny", precision="fp32")
    return enc.embed_images(list(photos.values()))


def test_clip_retrieval_embeddings_match_exact_numpy_search(cli_run, tmp_path, photos):
    vecs = _tiny_vectors(photos)
    names = list(photos)
    rows = [{"url": url_for(i, n), "caption": caption_for(n), "similarity": 0.3, "NSFW": "UNLIKELY", "pwatermark": 0.5,
             "width": 100 + i, "height": 50, "key": f"{i:09d}"} for i, n in enumerate(names)]
    root = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=3)  # 5 files, float16 and float32
    rep = _build(cli_run, "e", "--from", root, "--encoder", "tiny")
    assert rep["count"] == len(names) and rep["sources"][0]["format"] == "embeddings"
    ix = provenance.open_index("e")
    # reference: exactly the stored vectors, read as clip-retrieval wrote them, in file then row order
    ref = np.concatenate([np.load(root / "img_emb" / f"img_emb_{f}.npy").astype(np.float32) for f in range(5)])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    queries = _tiny_vectors({n: photos[n].rotate(3) for n in names[:6]})
    exact = np.argsort(-(queries @ ref.T), axis=1, kind="stable")[:, :10]
    scores, ids = ix.search(queries, 10)
    assert ids.tolist() == exact.tolist()
    assert ix.rows([5])[0]["key"] == "000000005" and ix.rows([5])[0]["pwatermark"] == 0.5
    assert ix.rows([5])[0]["width"] == 105  # LAION width column becomes the width


def test_embeddings_bad_files(cli_run, tmp_path, photos):
    vecs = _tiny_vectors(photos)
    names = list(photos)
    rows = [{"url": url_for(i, n), "caption": caption_for(n)} for i, n in enumerate(names)]
    root = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=4)
    # file 1: metadata has one row fewer than the vectors; file 2: a NaN vector
    pq_path = root / "metadata" / "metadata_1.parquet"
    t = pq.read_table(pq_path)
    pq.write_table(t.slice(0, 3), pq_path)
    v2 = np.load(root / "img_emb" / "img_emb_2.npy").astype(np.float32)
    v2[1, 0] = np.nan
    np.save(root / "img_emb" / "img_emb_2.npy", v2)
    rep = _build(cli_run, "e", "--from", root, "--encoder", "tiny")
    assert rep["skip_reasons"] == {"row count mismatch": 4, "non-finite vector": 1}
    assert rep["count"] == len(names) - 5
    # --strict turns any skip into a failure and commits nothing
    r = cli_run("index", "e2", "--from", root, "--encoder", "tiny", "--strict", expect=1)
    assert "--strict" in r.stderr and "row count mismatch" in r.stderr
    assert not (tmp_path / "indexes" / "e2" / "manifest.json").exists()


def test_embeddings_metadata_columns_rows_and_keys(cli_run, tmp_path):
    """Embeddings are ingested a block of rows at a time; every row still gets what a single item
    would: cleaned text, renamed extras, its own key or file#row, duplicate and bad rows counted."""
    import pyarrow as pa

    rng = np.random.default_rng(0)
    (tmp_path / "emb" / "img_emb").mkdir(parents=True)
    (tmp_path / "emb" / "metadata").mkdir()
    n = 40
    for f in range(2):
        v = rng.normal(size=(n, 256)).astype(np.float32)
        v[5], v[6] = np.nan, 0.0
        v[8] *= 1e20  # finite, but its squares overflow float32
        keys = [f"f{f}-{i}" for i in range(n)]
        keys[1], keys[2] = "", None  # no key: named by file and row
        if f == 1:
            keys[10] = "f0-11"  # a duplicate of file 0's key
        table = pa.table({
            "key": keys,
            "url": ["https://www.etsy.com/listing/1/mug" + ("x" * 9000 if i == 3 else "") for i in range(n)],
            "caption": ["a" * 5000 if i == 4 else "me and my dog" for i in range(n)],
            "width": list(range(n)),
            "label": ["theirs"] * n,  # reserved: kept as src_label
            "pwatermark": [0.95] * n,
            "note": [b"caf\xe9"] * n,  # bytes, decoded leniently
            "small": pa.array(range(n), pa.int32()),
        })
        np.save(tmp_path / "emb" / "img_emb" / f"img_emb_{f}.npy", v)
        pq.write_table(table, tmp_path / "emb" / "metadata" / f"metadata_{f}.parquet")
        if f == 0:
            v0 = v
    rep = _build(cli_run, "e", "--from", tmp_path / "emb", "--encoder", "tiny", "--commit-every", "16")
    assert rep["skip_reasons"] == {"non-finite vector": 2, "zero vector": 2, "duplicate key": 1}
    assert rep["count"] == 2 * n - 5
    ex = {e["ref"] for e in rep["skipped_examples"]}
    assert {"img_emb_0.npy#5", "img_emb_1.npy#6", "img_emb_1.npy#10"} <= ex
    parts = sorted((tmp_path / "indexes" / "e" / "parts").glob("*.parquet"))
    assert [pq.read_metadata(p).num_rows for p in parts] == [16, 16, 6, 16, 16, 5]  # parts end with each file
    t = pq.read_table(parts[0]).to_pylist() + [r for p in parts[1:] for r in pq.read_table(p).to_pylist()]
    by_key = {r["key"]: r for r in t}
    assert [r["id"] for r in t] == list(range(len(t)))
    assert "img_emb_0.npy#1" in by_key and "img_emb_0.npy#2" in by_key and "img_emb_1.npy#2" in by_key
    r3 = next(r for r in t if r["shard"] == "img_emb_0.npy" and r["width"] == 3)
    assert len(r3["url"]) == 8192
    r4 = by_key["f0-4"]
    assert r4["caption"] == "a" * 4096 + " [truncated]"
    assert r4["src_label"] == "theirs" and r4["label"] == "commercial" and r4["src_width"] == 4 and r4["height"] is None
    assert r4["note"] == "caf\ufffd" and r4["pwatermark"] == 0.95
    assert "pwatermark=0.95" in r4["evidence"] and r4["selfie"] is False
    assert pq.read_schema(parts[0]).field("small").type == pa.int32()  # extras keep their Arrow type
    stored = provenance.open_index("e").vectors()
    np.testing.assert_allclose(np.linalg.norm(stored, axis=1), 1.0, rtol=1e-5)  # the huge row too
    big = by_key["f0-8"]["id"]
    np.testing.assert_allclose(stored[big], v0[8] / np.linalg.norm(v0[8].astype(np.float64)), rtol=1e-5)
    # appending the same files again adds nothing, and says so
    rep2 = _build(cli_run, "e", "--from", tmp_path / "emb", "--append")
    assert rep2["up_to_date"] is True and rep2["count"] == rep["count"]


def test_embeddings_wrong_dimension_is_refused(cli_run, tmp_path):
    rows = [{"url": f"https://x.org/{i}.jpg", "caption": "x"} for i in range(4)]
    vecs = np.random.default_rng(0).normal(size=(4, 512)).astype(np.float32)
    root = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=4)
    r = cli_run("index", "e", "--from", root, "--encoder", "tiny", expect=1)
    assert "512-dimensional" in r.stderr and "256" in r.stderr and "--encoder" in r.stderr
    assert "Traceback" not in r.output


def test_embeddings_without_loadable_model_record_unverified_identity(cli_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = [{"url": f"https://x.org/{i}.jpg", "caption": "x"} for i in range(6)]
    vecs = np.random.default_rng(0).normal(size=(6, 512)).astype(np.float32)
    root = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=3)
    rep = _build(cli_run, "laion", "--from", root, "--encoder", "open_clip:ViT-B-32/openai")
    assert rep["encoder"]["fingerprint"] is None and rep["encoder"]["model_id"] == "ViT-B-32/openai"
    assert rep["encoder"]["dim"] == 512 and rep["count"] == 6


def _save_hf(tmp_path, photos, n=6):
    import datasets

    names = list(photos)[:n]
    ds = datasets.Dataset.from_dict(
        {"img": [{"bytes": jpeg_bytes(photos[x]), "path": None} for x in names], "alt": [caption_for(x) for x in names],
         "link": [url_for(i, x) for i, x in enumerate(names)], "uid": [f"u{i}" for i in range(n)], "score": [0.5] * n},
        features=datasets.Features({"img": datasets.Image(), "alt": datasets.Value("string"), "link": datasets.Value("string"),
                                    "uid": datasets.Value("string"), "score": datasets.Value("float32")}),
    )
    ds.save_to_disk(str(tmp_path / "ds"))
    return tmp_path / "ds", names


def test_hf_dataset_saved_to_disk_with_selected_columns(cli_run, tmp_path, photos):
    path, names = _save_hf(tmp_path, photos)
    rep = _build(cli_run, "h", "--from", path, "--encoder", "tiny", "--caption-col", "alt", "--url-col", "link", "--key-col", "uid")
    assert rep["count"] == len(names) and rep["sources"][0]["format"] == "hf"
    row = provenance.open_index("h").rows([2])[0]
    assert (row["key"], row["caption"], row["url"], row["score"]) == ("u2", caption_for(names[2]), url_for(2, names[2]), 0.5)


def test_hf_streaming_and_parquet_files(cli_run, tmp_path, photos):
    import datasets

    path, names = _save_hf(tmp_path, photos)
    pq_file = tmp_path / "data.parquet"
    datasets.load_from_disk(str(path)).to_parquet(str(pq_file))
    rep = _build(cli_run, "hp", "--from", pq_file, "--encoder", "tiny", "--image-col", "img", "--caption-col", "alt", "--streaming")
    assert rep["count"] == len(names)
    r = cli_run("index", "hx", "--from", pq_file, "--encoder", "tiny", "--caption-col", "nope", expect=2)
    assert "no column 'nope'" in r.stderr


def test_source_format_detection(tmp_path, photos):
    from provenance.ingest import detect_format

    write_shards(tmp_path / "shards", photos)
    assert detect_format(str(tmp_path / "shards")) == "webdataset"
    assert detect_format(str(tmp_path / "shards" / "{00000..00001}.tar")) == "webdataset"
    assert detect_format("s3://bucket/laion/{00000..00009}.tar") == "webdataset"
    assert detect_format("hf:laion/laion400m") == "hf"
    assert detect_format("laion/relaion2B-en-research-safe") == "hf"
    (tmp_path / "emb" / "img_emb").mkdir(parents=True)
    assert detect_format(str(tmp_path / "emb")) == "embeddings"
    (tmp_path / "imgs").mkdir()
    assert detect_format(str(tmp_path / "imgs")) == "images"


def test_hub_dataset_offline_is_a_clear_error(cli_run):
    r = cli_run("index", "hub", "--from", "hf:someorg/someset", "--encoder", "tiny", expect=1)
    assert "someorg/someset" in r.stderr and "local copy" in r.stderr
    assert "Traceback" not in r.output


def test_a_labeler_of_rows_labels_precomputed_embeddings_too(tmp_path):
    """A Labeler with only the row interface (no submit_table) still labels embeddings: new keys become
    columns, and a field it declares replaces the source column of that name, as for one row."""
    from provenance.index.builder import build_index

    class Lengths:
        def prepare(self, identity, encoder):
            self.dim = identity["dim"]

        def __call__(self, rows, vectors):
            assert len(rows) == len(vectors) and vectors.shape[1] == self.dim
            for r in rows:
                r["caption_chars"] = len(r["caption"] or "")
                r["flag"] = "mine"

        def describe(self):
            return {"fields": ["caption_chars", "flag"]}

    rows = [{"key": f"k{i}", "url": f"https://x.org/{i}.jpg", "caption": "x" * i, "flag": "theirs"} for i in range(10)]
    vecs = np.random.default_rng(0).standard_normal((10, 256)).astype(np.float32)
    root = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=5)
    build_index(tmp_path / "ix", str(root), encoder="tiny", labeler=Lengths(), progress=False)
    t = provenance.open_index(tmp_path / "ix").metadata(["key", "caption_chars", "flag"]).to_pylist()
    assert [(r["caption_chars"], r["flag"]) for r in t] == [(i, "mine") for i in range(10)]


def test_embeddings_columns_of_other_arrow_types():
    """Metadata as other writers store it: integer keys, dictionary-encoded or large_string text."""
    import pyarrow as pa

    from provenance.ingest.embeddings import _extra_column, _keys, _text_column

    assert _keys(pa.array([7, None, 9]), "img_emb_3.npy", 10, 3) == ["7", "img_emb_3.npy#11", "9"]
    assert _keys(None, "f.npy", 0, 2) == ["f.npy#0", "f.npy#1"]
    caps = pa.array(["a" * 5000, "short", None]).dictionary_encode()
    assert _text_column(caps, 4096, " [truncated]").to_pylist() == ["a" * 4096 + " [truncated]", "short", None]
    big = pa.array(["é" * 3000], pa.large_string())
    out = _extra_column(big)
    assert out.type == pa.string() and out.to_pylist() == ["é" * 2048]
    assert _text_column(pa.array([12, None]), 8192).to_pylist() == ["12", None]
