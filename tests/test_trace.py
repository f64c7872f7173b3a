"""provenance trace: near-copies at rank 1, text queries, the JSON schema, refusals and bad input."""

import json
from importlib import resources

import jsonschema
import pytest
from helpers import edited_copy, jpeg_bytes, write_shards

import provenance


@pytest.fixture
def shard_index(cli_run, tmp_path, photos):
    write_shards(tmp_path / "shards", photos, per_shard=4)
    cli_run("index", "people", "--from", tmp_path / "shards", "--encoder", "tiny", "--no-progress")
    return "people"


def _schema():
    return json.loads((resources.files("provenance") / "data" / "trace.schema.json").read_text())


def test_edited_near_copy_comes_back_at_rank_one(cli_run, shard_index, tmp_path, photos):
    queries = []
    for name in ["astronaut", "chelsea", "rocket", "coffee", "horse"]:
        p = tmp_path / f"gen-{name}.jpg"
        edited_copy(photos[name]).save(p)
        queries.append((name, p))
    r = cli_run("trace", *[p for _, p in queries], "--index", shard_index, "-k", "5", "--json")
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, _schema())
    for (name, _), res in zip(queries, doc["results"]):
        top = res["neighbours"][0]
        assert top["rank"] == 1 and top["meta"]["name"] == name, (name, top)
        assert top["similarity"] >= 0.99 and top["near_duplicate"] is True and res["near_duplicate"] is True
        assert len(res["neighbours"]) == 5
        assert [n["similarity"] for n in res["neighbours"]] == sorted((n["similarity"] for n in res["neighbours"]), reverse=True)
        assert not any(n["near_duplicate"] for n in res["neighbours"][1:])
    assert doc["encoder"]["spec"] == "tiny" and doc["encoder"]["trained"] is False
    assert any("untrained" in n for n in doc["notes"]) and any("not proven influence" in n for n in doc["notes"])


def test_table_output_names_neighbours_and_states_limits(cli_run, shard_index, tmp_path, photos):
    p = tmp_path / "q.png"
    edited_copy(photos["clock"]).save(p)
    r = cli_run("trace", p, "--index", shard_index, "--show", "3")
    out = r.stdout
    assert "a photo of clock" in out and "rank" in out and "cosine" in out
    assert "untrained" in out and "reference corpus" in out


def test_text_query(cli_run, shard_index):
    r = cli_run("trace", "--text", "a photo of a rocket", "--text", "second", "--index", shard_index, "-k", "3", "--json")
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, _schema())
    assert [res["kind"] for res in doc["results"]] == ["text", "text"]
    assert all(len(res["neighbours"]) == 3 and not res["near_duplicate"] for res in doc["results"])


def test_python_api_mirrors_cli(shard_index, photos):
    ix = provenance.open_index(shard_index)
    res = ix.trace([edited_copy(photos["moon"])], k=3)[0]
    assert res.neighbours[0].meta["name"] == "moon"
    vecs = ix.encoder().embed_images([photos["moon"]])
    scores, ids = ix.search(vecs, 4)
    assert scores.shape == (1, 4) and ids[0, 0] == res.neighbours[0].id
    assert ix.rows([int(ids[0, 0])])[0]["caption"] == "a photo of moon"


def test_k_larger_than_index(cli_run, shard_index, tmp_path, photos):
    p = tmp_path / "q.jpg"
    photos["coins"].save(p)
    doc = json.loads(cli_run("trace", p, "--index", shard_index, "-k", "100", "--json").stdout)
    assert len(doc["results"][0]["neighbours"]) == 15


def test_query_with_another_encoder_is_refused(cli_run, shard_index, tmp_path, photos):
    from safetensors.torch import save_file

    other = provenance.load_encoder("open_clip:ViT-B-32", precision="fp32")  # random ViT-B-32: another model
    path = tmp_path / "vitb32.safetensors"
    save_file({k: v.contiguous() for k, v in other._model.state_dict().items()}, str(path))
    q = tmp_path / "q.jpg"
    photos["coins"].save(q)
    r = cli_run("trace", q, "--index", shard_index, "--encoder", f"open_clip:ViT-B-32@{path}", expect=2)
    assert "built with encoder tiny" in r.stderr and "different model" in r.stderr
    assert "Traceback" not in r.output


@pytest.mark.parametrize("content, words", [
    (b"", "empty image file"),
    (b"plain text, not a picture", "not an image"),
    ("truncated", "truncated image"),
])
def test_unreadable_query_images(cli_run, shard_index, tmp_path, photos, content, words):
    p = tmp_path / "bad.jpg"
    if content == "truncated":
        data = jpeg_bytes(photos["coins"])
        content = data[: len(data) // 3]
    p.write_bytes(content)
    r = cli_run("trace", p, "--index", shard_index, expect=1)
    assert f"cannot read image {p}" in r.stderr and words in r.stderr
    assert "Traceback" not in r.output


def test_missing_image_and_unknown_index_are_usage_errors(cli_run, shard_index, tmp_path):
    r = cli_run("trace", tmp_path / "nope.png", "--index", shard_index, expect=2)
    assert "does not exist" in r.stderr
    r = cli_run("trace", "--text", "x", "--index", "nosuch", expect=2)
    assert "unknown index 'nosuch'" in r.stderr and "people" in r.stderr
    r = cli_run("trace", "--index", shard_index, expect=2)
    assert "nothing to trace" in r.stderr


def test_default_index_is_the_only_one(cli_run, shard_index):
    r = cli_run("trace", "--text", "x", "-k", "1", "--json")
    assert json.loads(r.stdout)["index"]["name"] == "people"
