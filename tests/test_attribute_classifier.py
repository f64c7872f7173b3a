"""The URL / caption / column source classifier: each signal on its own, their combination, taxonomies."""

from __future__ import annotations

import json

import pytest

from provenance.attribute import SourceClassifier, TaxonomyError, load_taxonomy
from provenance.attribute.taxonomy import compact


@pytest.fixture(scope="module")
def clf():
    return SourceClassifier()


def signals(att, signal=None):
    return [e for e in att.evidence if signal is None or e[0] == signal]


@pytest.mark.parametrize("url,label", [
    ("https://www.shutterstock.com/image-photo/happy-family-260nw-123456.jpg", "stock"),
    ("https://media.gettyimages.com/photos/a-picture-id123456789", "stock"),
    ("https://thumbs.dreamstime.com/b/some-thing-27405153.jpg", "stock"),
    ("https://scontent-lhr8-1.cdninstagram.com/v/t51.2885-15/e35/12345_n.jpg", "personal"),
    ("https://scontent.xx.fbcdn.net/v/t1.0-9/10403_n.jpg", "personal"),
    ("https://i.redd.it/abc123xyz.jpg", "personal"),
    ("https://farm4.staticflickr.com/3745/1234_5678_z.jpg", "personal"),
    ("https://i.ebayimg.com/images/g/SPoAAOSwuela3zS6/s-l500.jpg", "commercial"),
    ("https://i.etsystatic.com/13287390/r/il/5a7e7a/2678529299/il_570xN.2678529299_j0m2.jpg", "commercial"),
    ("https://cdn.shopify.com/s/files/1/0223/4567/products/blue-mug.jpg?v=1", "commercial"),
    ("https://ae01.alicdn.com/kf/HTB1abc/item.jpg", "commercial"),
    ("https://static01.nyt.com/images/2019/02/25/arts/25oscars/merlin_1.jpg", "editorial"),
    ("https://ichef.bbci.co.uk/news/976/cpsprodpb/1234/production/_1056.jpg", "editorial"),
    ("https://img00.deviantart.net/1234/i/2015/001/a/b/dragon_by_someone-d8abcd.jpg", "art"),
    ("https://cdna.artstation.com/p/assets/images/images/000/1.jpg", "art"),
    ("https://upload.wikimedia.org/wikipedia/commons/a/a1/Map_of_Europe.svg", "other"),
])
def test_host_lists(clf, url, label):
    att = clf.classify(url, None)
    assert att.label == label, att.evidence
    assert signals(att, "host"), "the host should be part of the evidence"


def test_brand_matches_any_public_suffix(clf):
    for host in ("www.gettyimages.co.uk", "www.gettyimages.de", "www.gettyimages.com.au"):
        att = clf.classify(f"https://{host}/detail/photo/x-high-res-stock-photography/123", None)
        assert att.label == "stock"
        assert any(e[:2] == ["host", "stock"] and e[3] == "gettyimages" for e in att.evidence)


def test_stock_file_names_on_other_hosts(clf):
    for url in ("https://someblog.example.org/wp-content/uploads/2019/05/shutterstock_1234567.jpg",
                "https://example.net/img/depositphotos_10385781-stock-photo-mother.jpg",
                "https://www.smallbiz.example/images/iStock-000012345Small.jpg",
                "https://example.com/files/dreamstime_xl_12345678.jpg"):
        att = clf.classify(url, "a picture")
        assert att.label == "stock", (url, att.evidence)
        assert any(e[0] == "url" and e[1] == "stock" for e in att.evidence)


def test_getty_file_name_inside_a_news_cdn_is_a_press_photo(clf):
    url = "https://cnet4.cbsistatic.com/img/x/1600x900/2019/02/25/ab61/gettyimages-1127185347.jpg"
    att = clf.classify(url, "Black Panther dominates all categories at the 2019 Oscars")
    assert att.label == "editorial"
    # the stock file name was seen, and lost to the news host
    assert any(e[1] == "stock" and e[3] == "gettyimages" for e in att.evidence)
    news = clf.classify("https://static01.nyt.com/images/2020/01/01/gettyimages-123456789.jpg", None)
    assert news.label == "editorial"
    assert news.probabilities["stock"] > clf.classify("https://static01.nyt.com/images/2020/01/01/x.jpg", None).probabilities["stock"]


@pytest.mark.parametrize("caption,label", [
    ("Young businesswoman isolated on white background — Stock Photo", "stock"),
    ("Seamless pattern with flowers, vector illustration", "stock"),
    ("Womens Skater Dress Size XL Free Shipping $19.99", "commercial"),
    ("3 bed, 2 bath single family home for sale, MLS# 71895205", "commercial"),
    ("Actress Jane Doe attends the 2019 Met Gala (Photo by John Smith/Getty Images)", "editorial"),
    ("me and my bestie at the beach lol #summer #nofilter", "personal"),
    ("Oil on canvas, 1889, landscape painting", "art"),
    ("World map with country names infographic", "other"),
    ("Printable multiplication worksheet for 3rd grade", "other"),
])
def test_caption_cues(clf, caption, label):
    att = clf.classify(None, caption)
    assert att.label == label, att.evidence
    assert all(e[0] in ("caption", "model") for e in att.evidence)  # the rules read only the caption


def test_caption_markup_and_entities_are_read_as_text(clf):
    att = clf.classify(None, "<b>Royalty&nbsp;free</b> stock photo &amp; image")
    assert att.label == "stock"


def test_selfie_flag_from_caption(clf):
    att = clf.classify("https://scontent.cdninstagram.com/v/123_n.jpg", "sunday selfie with my new haircut")
    assert att.label == "personal" and att.selfie
    assert any(e[0] == "selfie" for e in att.evidence)
    assert not clf.classify(None, "selfie stick with bluetooth remote, black").selfie


def test_evidence_is_the_same_in_every_process():
    """Index builds label in several processes, each with its own string-hash salt: the evidence of an
    item (selfie cues included) must not depend on which one labelled it."""
    import subprocess
    import sys

    code = ("from provenance.attribute import SourceClassifier;"
            "print(SourceClassifier().classify('https://i.redd.it/x.jpg', 'me and my sister, mirror selfie, my new hair').fields()['evidence'])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(4)}
    assert len(outs) == 1 and '"selfie","caption"' in outs.pop()


def test_pwatermark_column_pushes_toward_stock(clf):
    url, cap = "https://example.org/images/pic1.jpg", "a woman drinking coffee"
    low = clf.classify(url, cap, columns={"pwatermark": 0.05})
    high = clf.classify(url, cap, columns={"pwatermark": 0.98})
    assert not signals(low, "columns")
    assert signals(high, "columns")[0][1] == "stock"
    assert high.probabilities["stock"] > low.probabilities["stock"] * 2
    # column names match case-insensitively; junk values are ignored
    assert signals(clf.classify(url, cap, columns={"PWATERMARK": "0.9"}), "columns")
    assert not signals(clf.classify(url, cap, columns={"pwatermark": "n/a"}), "columns")


def test_thin_evidence_gives_the_fallback_with_low_confidence(clf):
    rules = SourceClassifier(learned=False)
    for url, cap in ((None, None), ("", ""), ("https://example.org/a.jpg", "photo"), (None, "!!!")):
        assert rules.classify(url, cap).label == "other"
        att = clf.classify(url, cap)
        # with no words at all the learned model has nothing to say; with one weak word it may lean, unsure
        assert att.label == "other" or (url and cap.isalpha())
        assert att.confidence < 0.5
        assert abs(sum(att.probabilities.values()) - 1) < 1e-9


def test_proxy_urls_are_unwrapped(clf):
    att = clf.classify("https://i0.wp.com/www.shutterstock.com/image-photo/x-260nw-1.jpg?resize=300", None)
    assert att.label == "stock"
    att = clf.classify("https://l2.yimg.com/bt/api/res/1.2/abc--/http://media.zenfs.com/en_US/News/x.jpg", None)
    assert att.label == "editorial"


def test_fields_for_an_index_row(clf):
    f = clf.classify("https://i.ebayimg.com/images/g/abc/s-l500.jpg", "Nike shoes size 10").fields()
    assert f["label"] == "commercial"
    assert set(f) == {"label", "label_confidence", "selfie", "evidence", *[f"p_{c}" for c in clf.classes]}
    assert abs(sum(f[f"p_{c}"] for c in clf.classes) - 1) < 1e-9
    ev = json.loads(f["evidence"])
    assert ev[0][:2] == ["host", "commercial"]


def test_user_taxonomy_extends_the_builtin(tmp_path):
    url = "https://img.mywire-agency.example/p/123.jpg"
    assert SourceClassifier().classify(url, None).label != "editorial"
    user = tmp_path / "mine.toml"
    user.write_text('[meta]\nname = "mine"\n[editorial.hosts]\n"mywire-agency.example" = 4.0\n'
                    '[government]\ndescription = "public bodies"\nprior = 0.05\n[government.words]\n"ministry of" = 4.0\n')
    tax = load_taxonomy(user)
    assert tax.classes[-1] == "government" and "stock" in tax.classes
    clf = SourceClassifier(tax)
    assert clf.classify(url, None).label == "editorial"
    assert clf.classify(None, "Ministry of Health building").label == "government"
    assert "shutterstock" in tax.brands  # the built-in lists are still there
    assert tax.sources == ["builtin", str(user.resolve())]


def test_user_taxonomy_can_replace_the_builtin(tmp_path):
    user = tmp_path / "two.json"
    user.write_text(json.dumps({"meta": {"mode": "replace", "name": "two"}, "model": {"fallback": "rest"},
                                "ads": {"prior": 0.5, "hosts": {"adserver.example": 3}}, "rest": {"prior": 0.5}}))
    clf = SourceClassifier(str(user))
    assert clf.classes == ["ads", "rest"]
    assert clf.classify("https://x.adserver.example/b.png", None).label == "ads"
    assert clf.classify("https://www.shutterstock.com/x.jpg", None).label == "rest"


@pytest.mark.parametrize("text,needle", [
    ('[stock.hosts]\n"shutter stock" = 1\n', "not a domain"),
    ("[stock.patterns]\n'(unclosed' = 1\n", "invalid regular expression"),
    ('[stock.words]\n"x" = "heavy"\n', "finite number"),
    ('[Bad-Class]\nprior = 0.1\n', "class name"),
    ('[stock]\nhost = {}\n', "unknown key"),
    ("not toml at all [", "not valid TOML"),
])
def test_bad_taxonomy_files_are_user_errors(tmp_path, text, needle):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(TaxonomyError, match=needle):
        load_taxonomy(p)


def test_compact_watermark_text():
    assert compact("Getty Images®") == "gettyimages"


@pytest.mark.parametrize("caption", ["a photo of astronaut", "picture of a thing", "image 3"])
def test_thin_evidence_stays_other_even_when_the_model_guesses(caption):
    """No host, no decisive word: the label is `other` with low confidence, not a forced guess."""
    from provenance.attribute import SourceClassifier

    att = SourceClassifier().classify(None, caption)
    assert att.label == "other" and att.confidence < 0.4


def test_values_are_those_of_the_attribution():
    """Tables and index builds take ``values()`` (no Attribution built): it must give exactly what
    ``classify(...).values()`` gives, whatever the signals, with and without the learned model."""
    from test_attribute_pool import web_rows

    rows = web_rows(600)
    rows += [{"url": "https://scontent.cdninstagram.com/v/1_n.jpg", "caption": "mirror selfie, me and my sister",
              "img_selfie_framing": True, "img_faces": 4, "img_watermark": "shutterstock"},
             {"url": None, "caption": None}, {"url": "", "caption": "!!!"}]
    for learned in (None, False):
        c = SourceClassifier(learned=learned)
        for i, r in enumerate(rows):
            signals = {k: v for k, v in r.items() if k not in ("url", "caption", "key")}
            zero_shot = {"stock": 0.7, "art": -0.2} if i % 5 == 0 else None
            args = (r["url"], r["caption"], signals, signals, zero_shot)
            assert c.values(*args) == c.classify(*args).values(), r


def test_fast_rounding_is_round():
    """Stored shares are rounded without round()'s decimal round trip: the result must be round()'s,
    bit for bit, including next to ties and outside the fast path's range."""
    import math
    import random

    from provenance.attribute.classifier import round4, round6

    def around(x, ulps=4):
        out = [x]
        for toward in (-1.0, 3.0):
            y = x
            for _ in range(ulps):
                y = math.nextafter(y, toward)
                out.append(y)
        return out

    rng = random.Random(0)
    xs = [rng.random() for _ in range(100_000)] + [rng.random() * 2 for _ in range(20_000)]
    for scale in (1e4, 1e6):
        for k in rng.sample(range(int(2 * scale)), 5_000):
            xs += around((k + 0.5) / scale) + around(k / scale)  # next to ties, next to exact results
    xs += [0.0, -0.0, 1.0, 2.0, 1.9999999, 5e-7, 4.9999999e-7, 5e-5, 1e-300, 5e-324, -1e-9, -0.3, 3.7,
           math.inf, -math.inf, math.nan]
    for x in xs:
        assert repr(round6(x)) == repr(round(x, 6)), x
        assert repr(round4(x)) == repr(round(x, 4)), x
