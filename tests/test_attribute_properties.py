"""Property tests: whatever URL, caption or column values come in, a valid attribution comes out."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.attribute import SourceClassifier, classify_rows

CLF = SourceClassifier()

url_like = st.one_of(
    st.text(max_size=300),
    st.builds(lambda scheme, host, path: f"{scheme}://{host}/{path}",
              st.sampled_from(["http", "https", "ftp", "", "HTTP"]),
              st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60),
              st.text(max_size=120)),
    st.sampled_from(["http://[::1", "https://xn--80ak6aa92e.com/%E2%82%AC.jpg", "//cdn.shopify.com/x.jpg", "http://:80/",
                     "https://i0.wp.com/", "http://a.b/?url=http%3A%2F%2F", "https://i1.wp.com/https://x", "\x00\x01"]),
)
captions = st.one_of(st.none(), st.text(max_size=500), st.binary(max_size=50).map(lambda b: b.decode("latin-1")))
values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(max_size=10), st.booleans())


def check(att):
    assert att.label in CLF.classes
    assert set(att.probabilities) == set(CLF.classes)
    assert all(0.0 <= p <= 1.0 and not math.isnan(p) for p in att.probabilities.values())
    assert math.isclose(sum(att.probabilities.values()), 1.0, abs_tol=1e-9)
    assert 0.0 < att.confidence <= 1.0
    assert isinstance(att.selfie, bool)
    fields = att.fields()
    assert math.isclose(sum(fields[f"p_{c}"] for c in CLF.classes), 1.0, abs_tol=1e-9)
    json.loads(fields["evidence"])


@settings(max_examples=300, deadline=None)
@given(url=st.one_of(st.none(), url_like), caption=captions, pwatermark=values)
def test_any_input_gives_a_valid_label(url, caption, pwatermark):
    check(CLF.classify(url, caption, columns={"pwatermark": pwatermark}))


@settings(max_examples=100, deadline=None)
@given(row=st.dictionaries(st.text(max_size=12), values, max_size=6))
def test_any_metadata_row_gives_a_valid_label(row):
    check(CLF.classify(row.get("url"), row.get("caption"), columns=row, image=row))


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({"url": st.one_of(st.none(), url_like), "caption": captions}), min_size=1, max_size=10))
def test_classify_rows_keeps_every_row(rows):
    out = classify_rows(rows)
    assert out.num_rows == len(rows)
    assert out.column("url").to_pylist() == [r["url"] for r in rows]
    assert all(lab in CLF.classes for lab in out.column("label").to_pylist())


@pytest.mark.parametrize("text", ["", " ", "\n", "&amp;&lt;&gt;", "<<<>>>", "#" * 2000, "5" * 5000, "🙂" * 300])
def test_edge_captions(text):
    check(CLF.classify(text, text))
