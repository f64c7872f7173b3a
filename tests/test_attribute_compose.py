"""Nearest-neighbour source composition: similarity-weighted label shares with bootstrap intervals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.attribute.compose import compose
from provenance.trace.results import Neighbour

CLASSES = ["personal", "stock", "commercial", "editorial", "art", "other"]


def nb(rank, sim, label=None, probs=None, selfie=None, url=None, caption=None):
    return Neighbour(rank=rank, id=rank, similarity=sim, key=str(rank), url=url, host=None, caption=caption,
                     near_duplicate=False, label=label, probabilities=probs, selfie=selfie)


def test_shares_are_similarity_weighted_label_shares():
    ns = [nb(1, 0.9, "stock"), nb(2, 0.6, "stock"), nb(3, 0.3, "commercial"), nb(4, 0.2, "personal", selfie=True)]
    comp = compose(ns, CLASSES, n_bootstrap=500)
    sh = comp["shares"]
    assert set(sh) == set(CLASSES)
    assert sh["stock"]["share"] == pytest.approx(1.5 / 2.0, abs=1e-4)
    assert sh["commercial"]["share"] == pytest.approx(0.3 / 2.0, abs=1e-4)
    assert sh["personal"]["share"] == pytest.approx(0.2 / 2.0, abs=1e-4)
    assert sh["art"] == {"share": 0.0, "low": 0.0, "high": 0.0, "count": 0, "expected_share": 0.0}
    assert [sh[c]["count"] for c in CLASSES] == [1, 2, 1, 0, 0, 0]
    assert sum(v["share"] for v in sh.values()) == pytest.approx(1.0, abs=1e-9)
    for v in sh.values():
        assert 0.0 <= v["low"] <= v["share"] <= v["high"] <= 1.0
    assert sh["stock"]["low"] < sh["stock"]["share"] < sh["stock"]["high"]  # four neighbours: a wide interval
    assert comp["selfie"]["count"] == 1 and comp["selfie"]["share"] == pytest.approx(0.1, abs=1e-4)
    assert comp["k"] == 4 and comp["labelled"] == 4
    assert comp["weighting"] == "similarity" and comp["interval"] == "bootstrap 95%" and comp["n_bootstrap"] == 500


def test_interval_narrows_with_more_agreeing_neighbours():
    few = compose([nb(i, 0.8, "stock" if i % 2 else "commercial") for i in range(4)], CLASSES)
    many = compose([nb(i, 0.8, "stock" if i % 2 else "commercial") for i in range(200)], CLASSES)
    width = lambda c: c["shares"]["stock"]["high"] - c["shares"]["stock"]["low"]  # noqa: E731
    assert width(many) < width(few) / 3


def test_expected_share_uses_label_probabilities():
    probs = {"personal": 0.1, "stock": 0.6, "commercial": 0.3, "editorial": 0.0, "art": 0.0, "other": 0.0}
    comp = compose([nb(1, 0.5, "stock", probs)], CLASSES)
    assert comp["shares"]["stock"]["share"] == 1.0
    assert comp["shares"]["stock"]["expected_share"] == pytest.approx(0.6)
    assert comp["shares"]["commercial"]["expected_share"] == pytest.approx(0.3)


def test_no_positive_similarity_weighs_equally():
    comp = compose([nb(1, -0.2, "art"), nb(2, 0.0, "other")], CLASSES)
    assert comp["weighting"].startswith("equal")
    assert comp["shares"]["art"]["share"] == 0.5


def test_unlabelled_neighbours_are_labelled_on_demand_or_reported():
    ns = [nb(1, 0.9, url="https://www.shutterstock.com/image-photo/x-260nw-1.jpg"), nb(2, 0.5)]
    assert compose(ns, CLASSES)["shares"] == {}
    seen = []

    def label_missing(n):
        seen.append(n.rank)
        n.label, n.probabilities = ("stock" if n.url else "other"), None

    comp = compose(ns, CLASSES, label_missing=label_missing)
    assert seen == [1, 2]
    assert comp["labels_from"].startswith("URL and caption")
    assert comp["shares"]["stock"]["count"] == 1 and comp["shares"]["other"]["count"] == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-1, 1), st.sampled_from(CLASSES), st.booleans()), min_size=1, max_size=40))
def test_composition_invariants(items):
    comp = compose([nb(i, s, lab, selfie=sf) for i, (s, lab, sf) in enumerate(items, 1)], CLASSES, n_bootstrap=200)
    sh = comp["shares"]
    assert sum(v["share"] for v in sh.values()) == pytest.approx(1.0, abs=1e-6)
    assert sum(v["count"] for v in sh.values()) == len(items)
    for c, v in sh.items():
        assert 0.0 <= v["low"] <= v["share"] <= v["high"] <= 1.0 + 1e-9
        assert v["count"] == sum(1 for _, lab, _ in items if lab == c)
    assert 0.0 <= comp["selfie"]["low"] <= comp["selfie"]["share"] <= comp["selfie"]["high"] <= 1.0
