"""The fast matchers give exactly what the plain definitions give: gated regexes, phrase lookup, word splits."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.attribute import load_taxonomy
from provenance.attribute.phrases import NUMBER, PhraseIndex
from provenance.attribute.prefilter import PatternSet
from provenance.attribute.urls import _WORD, lower_words, parse_url, url_words, words

# Texts built from pieces the taxonomy patterns look for, so that matches are common.
pieces = st.sampled_from([
    "stock photo", " - stock image", "$19.99", "usd 5", "sku ab12-34", "123 main st", ", ca 90210", "(photo by jane",
    "/ getty images", "photo: x", "(2019)", "oil on canvas", "what is it?", "x.pdf", "pic.jpg", "#tbt", "@someone",
    "!!", ":)", "🙂", "é", "\x1c", "img_1234", "/20190512_123456", " ", "a", "7", "-", "size 10", "2 bed",
])
texts = st.lists(st.one_of(pieces, st.text(max_size=8)), max_size=12).map(lambda xs: "".join(xs).lower())


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_gated_patterns_find_what_plain_search_finds(text):
    tax = load_taxonomy()
    for ps in (tax.patterns, tax.url_patterns):
        got = sorted((m.group(0), m.start(), repr(p)) for m, p in ps.matches(text))
        want = sorted((m.group(0), m.start(), repr(p)) for rx, p, _ in ps.entries for m in [rx.search(text)] if m)
        assert got == want


def test_pattern_set_gates():
    ps = PatternSet([(re.compile(r"\bsku\s*\d+"), "a"), (re.compile(r"(?:^|\s)#[a-z]{3,}"), "b"),
                     (re.compile(r"^how\b.*\?"), "c")])
    assert sorted(p for _, p in ps.matches("sku 123 #tbt")) == ["a", "b"]
    assert [p for _, p in ps.matches("no digits here #tbt")] == ["b"]
    assert [p for _, p in ps.matches("how to? sku")] == ["c"]


vocab = st.sampled_from(["for", "sale", "stock", "photo", "red", "carpet", "my", "trip", "size", "us", "1", "22", "10",
                         "bed", "bath", "<n>", "x", "of", "the"])
phrases = st.lists(st.lists(vocab, min_size=1, max_size=3).map(tuple), min_size=1, max_size=25)


def _naive(entries, toks):
    out = set()
    for key, cls, w in entries:
        k = len(key)
        for i in range(len(toks) - k + 1):
            if all(a == b or (a == NUMBER and b.isdigit()) for a, b in zip(key, toks[i:i + k])):
                out.add((" ".join(key), cls, w))
    return out


@settings(max_examples=300, deadline=None)
@given(keys=phrases, toks=st.lists(vocab.filter(lambda t: t != "<n>"), max_size=15))
def test_phrase_index_finds_every_phrase_once(keys, toks):
    entries = [(k, "c", 1.0) for k in dict.fromkeys(keys) if not (k[0] == NUMBER and (len(k) < 2 or k[1] == NUMBER))]
    index = PhraseIndex(entries)
    found = index.find(toks)
    assert len(found) == len(set(found))
    assert set(found) == _naive(entries, toks)
    assert index.find(toks, set(toks)) == found


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_word_split_fast_path_is_exact(text):
    low = text.lower()
    assert words(text) == lower_words(low) == _WORD.findall(low)


@settings(max_examples=200, deadline=None)
@given(path=st.text(alphabet=st.sampled_from("ab1_-/.é9xZ"), max_size=30))
def test_url_words_are_the_longer_runs(path):
    parts = parse_url("https://img.shop.example.com/" + path)
    assert url_words(parts) == [w for w in _WORD.findall(parts.host.subdomain + " " + parts.path) if len(w) > 1]
