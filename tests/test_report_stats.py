"""Statistics and composition handling of the report, on data the tests make."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.report import composition as comp
from provenance.report import stats


def test_wilson_interval_contains_share_and_is_exact_at_edges():
    for count, n in ((0, 20), (3, 20), (20, 20), (1, 1)):
        low, high = stats.wilson_interval(count, n)
        assert 0 <= low <= count / n <= high <= 1
    assert stats.wilson_interval(0, 20)[0] == 0 and stats.wilson_interval(20, 20)[1] == 1


def test_bootstrap_mean_interval():
    rng = np.random.default_rng(1)
    x = rng.beta(2, 5, 40)
    mean, low, high = stats.bootstrap_mean(x, rng)
    assert mean == pytest.approx(x.mean()) and low < mean < high
    assert high - low < 0.2
    assert stats.bootstrap_mean([0.3], rng) == (0.3, None, None)
    assert stats.bootstrap_mean([0.25, 0.25, 0.25], rng) == (0.25, 0.25, 0.25)


def test_permutation_test_separates_real_differences_from_noise():
    rng = np.random.default_rng(2)
    codes = np.repeat([0, 1, 2], 15)
    same = rng.uniform(0, 1, 45)
    differ = same.copy()
    differ[codes == 2] += 0.6
    assert stats.permutation_test(differ, codes, rng, 500)[1] < 0.01
    assert stats.permutation_test(same, codes, rng, 500)[1] > 0.05
    # p is never 0: the observed arrangement counts as one permutation.
    assert stats.permutation_test(differ, codes, rng, 100)[1] >= 1 / 101


def test_chi_square_on_label_counts():
    res = stats.chi_square(np.array([[30, 5, 0], [10, 25, 0]]))
    assert res["dof"] == 1 and res["p_value"] < 1e-5  # the empty column is dropped
    assert stats.chi_square(np.array([[5, 0], [7, 0]])) is None


def test_benjamini_hochberg_skips_missing():
    adj = stats.benjamini_hochberg([0.01, None, 0.04, 0.03])
    assert adj[1] is None and adj[0] == pytest.approx(0.03) and adj[2] == pytest.approx(0.04)


def _record(labels, composition=None):
    neighbours = [{"rank": i + 1, "id": i, "similarity": 0.9, "label": lab} for i, lab in enumerate(labels)]
    return {"file": "x", "sha256": "0", "result": {"neighbours": neighbours, "composition": composition}}


def test_shares_from_neighbour_labels():
    shares, method = comp.from_record(_record(["stock"] * 3 + ["personal"] + [None]))
    assert method == comp.METHOD_COUNTS
    assert shares["stock"]["share"] == pytest.approx(0.6) and shares["stock"]["count"] == 3
    assert shares[comp.UNLABELLED]["count"] == 1
    classes = comp.classes_for([shares])
    assert classes[:6] == list(comp.CLASSES) and classes[-1] == comp.UNLABELLED
    full = comp.complete(shares, classes, 5)
    assert sum(s["share"] for s in full.values()) == pytest.approx(1.0)
    assert full["art"]["share"] == 0 and full["art"]["high"] > 0  # 0 of 5 does not rule out a share


def test_shares_from_an_attribution_composition_are_used_as_given():
    composition = {"k": 4, "weighting": "similarity", "shares": {
        "stock": {"share": 0.7, "low": 0.5, "high": 0.9, "count": 3},
        "personal": {"share": 0.3, "low": 0.1, "high": 0.5, "count": 1},
        **{c: {"share": 0.0, "low": 0.0, "high": 0.0, "count": 0} for c in ("commercial", "editorial", "art", "other")}}}
    shares, method = comp.from_record(_record(["stock"] * 3 + ["personal"], composition))
    assert method == comp.METHOD_COMPOSER
    assert shares["stock"] == {"share": 0.7, "low": 0.5, "high": 0.9, "count": 3}
    assert comp.classes_for([shares]) == list(comp.CLASSES)


def test_cards_show_remote_images_only_when_asked_and_only_http(tmp_path):
    from provenance.report.html import card
    from provenance.report.inputs import Generation
    from provenance.report.tables import Traced

    neighbours = [
        {"rank": 1, "id": 0, "similarity": 0.9, "key": "not/on/disk.jpg", "url": "https://i.pinimg.com/736x/aa/bb/cc/x.jpg",
         "host": "i.pinimg.com", "caption": "<b>hi</b>", "label": "personal"},
        {"rank": 2, "id": 1, "similarity": 0.8, "key": None, "url": "data:text/html,<script>alert(1)</script>",
         "host": None, "caption": None, "label": None},
    ]
    t = Traced(Generation("g.png", tmp_path / "g.png", {}, {}, 1), {"result": {"neighbours": neighbours}},
               {c: {"share": 0.0, "low": 0.0, "high": 0.0, "count": 0} for c in comp.CLASSES})
    off = card(t, list(comp.CLASSES), 8, remote_thumbnails=False)["neighbours"]
    on = card(t, list(comp.CLASSES), 8, remote_thumbnails=True)["neighbours"]
    assert off[0]["remote"] is None and off[0]["url"] == neighbours[0]["url"]
    assert on[0]["remote"] == neighbours[0]["url"]
    assert on[1]["url"] is None and on[1]["remote"] is None  # a data: URL is never a link or an image
