"""What the names of unlisted hosts say: words inside registrable domain names."""

from __future__ import annotations

import pytest

from provenance.attribute import SourceClassifier, TaxonomyError, load_taxonomy
from provenance.attribute.domains import DomainWords


@pytest.fixture(scope="module")
def clf():
    return SourceClassifier()


def domain_cues(att):
    return [e for e in att.evidence if e[0] == "domain"]


@pytest.mark.parametrize("host,label,word", [
    ("www.riverbendtimes.com", "editorial", "times"),
    ("lakecountyherald.co.uk", "editorial", "herald"),
    ("cdn.oakvalleynews.net", "editorial", "news"),
    ("www.kwxytv.com", "editorial", "tv"),
    ("www.bluepinesupply.com", "commercial", "supply"),
    ("shop.handmadepotterystore.co", "commercial", "store"),
    ("www.greenacreschurch.org", "other", "church"),
    ("www.mommyandmeadventures.com", "personal", "mommy"),
    ("img.bluehillstockphotos.com", "stock", "stockphotos"),
])
def test_words_in_unlisted_domain_names(clf, host, label, word):
    att = clf.classify(f"https://{host}/wp-content/uploads/2019/05/picture-1.jpg", None)
    assert att.label == label, att.evidence
    assert any(e[1] == label and e[3].startswith(f"{word} in ") for e in domain_cues(att))


def test_listed_hosts_are_not_read_for_words(clf):
    # a listed host says more than the words in its name ("wordpress" holds "press")
    att = clf.classify("https://someone.files.wordpress.com/2014/01/x.jpg", None)
    assert not domain_cues(att)


def test_words_inside_longer_words_do_not_count():
    dw = DomainWords([("art", "art", 1.0), ("press", "editorial", 1.0), ("tv", "editorial", 1.0)],
                     neutral=["smart", "express"])
    assert dw.find("smartphonedeals") == []  # "art" inside "smart"
    assert dw.find("pizzaexpress") == []  # "press" inside "express"
    assert dw.find("gotvnow") == []  # a short word in the middle of a name
    assert [w for w, _, _ in dw.find("abctv")] == ["tv"]
    assert [w for w, _, _ in dw.find("tv-art-press")] == ["tv", "art", "press"]
    assert [w for w, _, _ in dw.find("artpress")] == ["art", "press"]
    assert [w for w, _, _ in dw.find("fineartpress")] == ["press"]


def test_domain_evidence_is_capped_below_a_listed_host(clf):
    att = clf.classify("https://www.newstimesheraldgazette.com/a.jpg", None)
    total = sum(e[2] for e in domain_cues(att) if e[1] == "editorial")
    assert total > 4  # four newspaper words ...
    assert att.probabilities["editorial"] < clf.classify("https://www.nytimes.com/a.jpg", None).probabilities["editorial"]


def test_user_taxonomy_domain_words(tmp_path):
    user = tmp_path / "dw.toml"
    user.write_text('[url]\ndomain_neutral_words = ["glossary"]\n[other.domain_words]\n"glossa" = 2.0\n')
    clf = SourceClassifier(load_taxonomy(user))
    assert any(e[3] == "glossa in glossaweb" for e in clf.classify("https://glossaweb.com/x.png", None).evidence)
    assert not domain_cues(clf.classify("https://glossaryweb.com/x.png", None))
    bad = tmp_path / "bad.toml"
    bad.write_text('[other.domain_words]\n"Two Words" = 1.0\n')
    with pytest.raises(TaxonomyError, match="domain_words"):
        load_taxonomy(bad)
