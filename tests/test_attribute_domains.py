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
    builtin = load_taxonomy().domain_words
    assert not [w for w, c, _ in builtin.find("sussexgardens") if c == "other"]  # "sussex" holds "sex"
    assert [w for w, _, _ in dw.find("abctv")] == ["tv"]
    assert [w for w, _, _ in dw.find("tv-art-press")] == ["tv", "art", "press"]
    assert [w for w, _, _ in dw.find("artpress")] == ["art", "press"]
    assert [w for w, _, _ in dw.find("fineartpress")] == ["press"]


def test_domain_evidence_is_capped_below_a_listed_host():
    # A property of the rules (the learned model, trained on labels, may trust such names more).
    rules = SourceClassifier(learned=False)
    att = rules.classify("https://www.newstimesheraldgazette.com/a.jpg", None)
    total = sum(e[2] for e in domain_cues(att) if e[1] == "editorial")
    assert total > 4  # four newspaper words ...
    assert att.probabilities["editorial"] < rules.classify("https://www.nytimes.com/a.jpg", None).probabilities["editorial"]


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


def test_sites_named_after_a_person(clf):
    att = clf.classify("https://www.rebeccathornquist.com/wp-content/uploads/2016/04/garden-path.jpg", "garden path in april")
    assert att.label == "personal", att.evidence
    assert any(e[0] == "domain" and e[3] == "person's name rebeccathornquist" for e in att.evidence)
    # a shop named after its founder still reads as a shop when the caption says so
    shop = clf.classify("https://www.rebeccathornquist.com/images/ring-1.jpg", "14k Gold Diamond Halo Engagement Ring, size 7")
    assert shop.label == "commercial", shop.evidence
    # a domain word beats the name; a bare first name or a name alone is no person's site
    assert not any(e[3].startswith("person's name") for e in clf.classify("https://www.rebeccanews.com/a.jpg", None).evidence)
    assert not any(e[3].startswith("person's name") for e in clf.classify("https://www.rebecca.com/a.jpg", None).evidence)


def test_person_name_rule():
    from provenance.attribute.domains import person_name

    names = frozenset({"rebecca", "thomas"})
    assert person_name("rebeccathornquist", names) and person_name("thomas-ode", names)
    assert not person_name("rebecca", names)  # nothing after the name
    assert not person_name("rebeccathornquistandpartnersltd", names)  # too long to be one surname
    assert not person_name("rebecca2", names) and not person_name("ångström", names)


def test_person_name_setting(tmp_path):
    user = tmp_path / "p.toml"
    user.write_text('[model]\nperson_name_weight = 0\n')
    off = SourceClassifier(load_taxonomy(user)).classify("https://www.rebeccathornquist.com/a.jpg", None)
    assert not domain_cues(off)
    user.write_text('[model]\nperson_name_class = "art"\n[url]\nfirst_names = ["zorbalina"]\n')
    clf = SourceClassifier(load_taxonomy(user))
    assert [e[1] for e in domain_cues(clf.classify("https://zorbalinaquist.net/a.jpg", None))] == ["art"]
    # an extending file adds names to the built-in list
    assert [e[1] for e in domain_cues(clf.classify("https://www.rebeccathornquist.com/a.jpg", None))] == ["art"]
