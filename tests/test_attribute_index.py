"""Attribution inside real index builds and traces (tiny encoder, photos written by the test)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from PIL import ImageDraw, ImageFont

from provenance.attribute.hooks import trace_hooks
from provenance.index import build_index, open_index
from provenance.trace import trace_images

CLASSES = ["personal", "stock", "commercial", "editorial", "art", "other"]


def metadata(indexes_home, name):
    tables = [pq.read_table(p) for p in sorted((indexes_home / name / "parts").glob("*.parquet"))]
    return [r for t in tables for r in t.to_pylist()]


@pytest.fixture
def built(image_folder, cli_run, indexes_home):
    cli_run("index", "people", "--from", image_folder, "--encoder", "tiny", "--no-progress")
    return metadata(indexes_home, "people")


def test_index_rows_carry_labels_probabilities_selfie_and_evidence(built, indexes_home):
    by_host = {}
    for r in built:
        assert r["label"] in CLASSES
        assert abs(sum(r[f"p_{c}"] for c in CLASSES) - 1) < 1e-6
        assert isinstance(r["selfie"], bool)
        assert 0 < r["label_confidence"] <= 1
        json.loads(r["evidence"])
        assert isinstance(r["img_faces"], int)  # the face cue ran on the pixels
        if r["url"]:
            by_host.setdefault(r["url"].split("/")[2], set()).add(r["label"])
    assert by_host == {"www.shutterstock.com": {"stock"}, "scontent.cdninstagram.com": {"personal"},
                       "i.ebayimg.com": {"commercial"}, "cdn.cnn.com": {"editorial"}}
    astronaut = next(r for r in built if r["key"].endswith("astronaut.jpg"))
    assert astronaut["img_faces"] == 1
    # LAION's pwatermark column (in the sidecar JSON) is read as stock evidence when high
    high = [r for r in built if (r.get("pwatermark") or 0) > 0.6]
    assert high and all('"columns","stock"' in r["evidence"] for r in high)
    manifest = json.loads((indexes_home / "people" / "manifest.json").read_text())
    att = manifest["attribution"]
    assert att["classes"] == CLASSES and att["fallback"] == "other"
    assert att["signals"] == {"url": True, "caption": True, "columns": ["pwatermark"], "faces": True, "ocr": False,
                              "zero_shot": False}
    assert att["taxonomy"]["name"] == "provenance-builtin"


def test_trace_json_shows_the_source_composition(built, image_folder, cli_run):
    query = next(image_folder.rglob("horse.jpg"))
    r = cli_run("trace", query, "--index", "people", "-k", "8", "--json", "--no-ocr")
    doc = json.loads(r.output)
    assert doc["index"]["attribution"]["classes"] == CLASSES
    res = doc["results"][0]
    comp = res["composition"]
    assert set(comp["shares"]) == set(CLASSES)
    assert abs(sum(v["share"] for v in comp["shares"].values()) - 1) < 1e-6
    assert sum(v["count"] for v in comp["shares"].values()) == comp["k"] == 8
    for v in comp["shares"].values():
        assert v["low"] <= v["share"] <= v["high"]
    labels = [n["label"] for n in res["neighbours"]]
    for c in CLASSES:
        assert comp["shares"][c]["count"] == labels.count(c)
    assert comp["weighting"] == "similarity" and comp["interval"] == "bootstrap 95%"
    assert comp["labels_from"] == "index"
    assert res["query_signals"]["faces"] == 0 and res["query_signals"]["ocr"] is False
    assert any("resemblance, not proven influence" in n for n in doc["notes"])


def test_trace_table_prints_the_composition(built, image_folder, cli_run):
    r = cli_run("trace", next(image_folder.rglob("coffee.jpg")), "--index", "people", "-k", "6", "--no-ocr", "--no-faces")
    assert "nearest-neighbour source composition:" in r.output
    assert "%" in r.output and "[" in r.output


@pytest.mark.slow
def test_trace_flags_a_stock_watermark_in_the_generated_image(built, image_folder, cli_run, tmp_path, photos):
    gen = photos["chelsea"].copy().resize((640, 430))
    ImageDraw.Draw(gen).text((60, 170), "gettyimages", fill=(255, 255, 255), font=ImageFont.load_default(size=72))
    path = tmp_path / "generated.png"
    gen.save(path)
    doc = json.loads(cli_run("trace", path, "--index", "people", "-k", "3", "--json").output)
    sig = doc["results"][0]["query_signals"]
    assert sig["watermark"] == "gettyimages"
    assert sig["watermark_detail"]["classes"] == ["stock"]
    assert "direct evidence" in sig["watermark_detail"]["note"]
    table = cli_run("trace", path, "--index", "people", "-k", "3").output
    assert "stock watermark visible in the query image: gettyimages" in table


def test_index_without_attribution_is_labelled_at_trace_time(image_folder, indexes_home, photos):
    build_index("bare", str(image_folder), encoder="tiny", progress=False)  # no labeler: no label columns
    rows = metadata(indexes_home, "bare")
    assert "label" not in rows[0]
    ix = open_index("bare")
    res = trace_images(ix, [photos["rocket"]], k=5, **trace_hooks(ix, ocr=False, faces=False))[0]
    comp = res.composition
    assert comp["labels_from"].startswith("URL and caption")
    assert sum(v["count"] for v in comp["shares"].values()) == 5
    assert all(n.label in CLASSES for n in res.neighbours)


def test_user_taxonomy_at_index_time(image_folder, cli_run, indexes_home, tmp_path):
    tax = tmp_path / "news.toml"
    tax.write_text('[meta]\nname = "cnn-is-art"\n[art.hosts]\n"cnn.com" = 9.0\n')
    cli_run("index", "custom", "--from", image_folder, "--encoder", "tiny", "--no-progress", "--no-faces", "--taxonomy", tax)
    rows = metadata(indexes_home, "custom")
    assert {r["label"] for r in rows if r["url"] and "cnn.com" in r["url"]} == {"art"}
    assert "img_faces" not in rows[0]
    att = json.loads((indexes_home / "custom" / "manifest.json").read_text())["attribution"]
    assert att["taxonomy"]["sources"][-1] == str(tax.resolve()) and att["signals"]["faces"] is False
