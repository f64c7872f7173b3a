"""The Python API gives what the CLI gives: source labels at build time, compositions at trace time."""

from __future__ import annotations

import json

import provenance
from helpers import edited_copy


def test_build_index_labels_sources_like_the_cli(image_folder, indexes_home):
    report = provenance.build_index("people", str(image_folder), encoder="tiny", progress=False)
    assert report.to_dict()["count"] > 0
    index = provenance.open_index("people")
    rows = index.metadata().to_pylist()
    assert rows and all(r["label"] in ("personal", "stock", "commercial", "editorial", "art", "other") for r in rows)
    assert all(isinstance(r["img_faces"], int) for r in rows)  # the face cue ran, as with `provenance index`
    assert index.manifest["attribution"]["signals"]["faces"] is True
    shutter = [r for r in rows if r["url"] and "shutterstock" in r["url"]]
    assert shutter and {r["label"] for r in shutter} == {"stock"}


def test_build_index_without_attribution_stores_no_labels(image_folder, indexes_home):
    provenance.build_index("plain", str(image_folder), encoder="tiny", progress=False, attribution=False)
    index = provenance.open_index("plain")
    assert "label" not in index.metadata().column_names
    assert "attribution" not in index.manifest


def test_trace_returns_compositions_and_query_signals(image_folder, photos, indexes_home):
    provenance.build_index("people", str(image_folder), encoder="tiny", progress=False)
    index = provenance.open_index("people")
    r = index.trace([edited_copy(photos["astronaut"])], k=5, ocr=False)[0]
    assert r.composition["k"] == 5 and r.composition["labelled"] == 5 and json.dumps(r.composition)
    assert abs(sum(s["share"] for s in r.composition["shares"].values()) - 1) < 1e-6
    assert r.query_signals["ocr"] is False and r.query_signals["faces"] == 1  # faces on, OCR off as asked
    bare = index.trace([edited_copy(photos["astronaut"])], k=5, attribution=False)[0]
    assert bare.composition is None and bare.query_signals is None
    assert [n.id for n in bare.neighbours] == [n.id for n in r.neighbours]
    t = index.trace_text("a portrait photo", k=5)[0]
    assert t.composition["labelled"] == 5
