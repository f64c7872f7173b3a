"""Caption shapes: sentences (headlines, news captions) against product titles."""

from __future__ import annotations

import pytest

from provenance.attribute import SourceClassifier, TaxonomyError, load_taxonomy


@pytest.fixture(scope="module")
def clf():
    return SourceClassifier()


def shape_cues(att):
    return {e[1]: e[2] for e in att.evidence if e[3] == "sentence-like caption"}


@pytest.mark.parametrize("caption", [
    "Volunteers clear the river bank after the spring flood reached the old mill on the edge of town",
    "The mayor said the new bridge will open to traffic in the autumn, two years later than planned",
])
def test_sentences_point_away_from_product_listings(clf, caption):
    att = clf.classify("https://www.example-site.org/uploads/pic-77.jpg", caption)
    cues = shape_cues(att)
    assert cues["editorial"] > 0 and cues["commercial"] < 0
    assert att.label == "editorial", att.evidence


@pytest.mark.parametrize("caption", [
    "Mens Waterproof Hiking Boots Leather Brown Size 10 Wide",
    "Ceramic Table Lamp With Linen Shade",  # a title, however long, is no sentence
    "the cat on the mat",  # a sentence, but too short to tell
])
def test_titles_and_short_captions_are_not_sentences(clf, caption):
    assert not shape_cues(clf.classify(None, caption))


def test_sentence_settings_come_from_the_taxonomy(tmp_path):
    caption = "A walk in the park with the dog on a sunny day in May"
    user = tmp_path / "s.toml"
    user.write_text("[model]\nsentence_min_words = 20\n")
    assert not shape_cues(SourceClassifier(load_taxonomy(user)).classify(None, caption))
    # an extending file adds to the built-in cues; a zero weight switches one off
    user.write_text('[model]\nsentence_cues = { personal = 1.0, commercial = 0 }\n')
    assert shape_cues(SourceClassifier(load_taxonomy(user)).classify(None, caption)) == {
        "personal": 1.0, "editorial": load_taxonomy().model["sentence_cues"]["editorial"]}
    user.write_text('[model]\nsentence_cues = { nosuchclass = 1.0 }\n')
    with pytest.raises(TaxonomyError, match="sentence_cues"):
        load_taxonomy(user)


@pytest.mark.parametrize("caption,label", [
    ("HARBOUR LIGHTS: The Last Ferry Home (dir. Ana Ruiz)", "editorial"),  # a film credit
    ("The Salt Road (Lanterns of Ember, #3)", "editorial"),  # a book in a series
    ("Riverside bakery sold to rival chain for $3.5 million", "editorial"),  # money in the news, not a price
    ("Blue Ceramic Mug, 12 oz - $14.99", "commercial"),  # a price still is one
    ("Lemon orzo: 2 tablespoons olive oil, 1 tsp salt, preheat the oven", "other"),  # a recipe
    ("Touchdown! The Hawks rally in the fourth quarter", "editorial"),
    ("hot milf porn video xxx", "other"),  # adult content is labelled other
])
def test_media_and_recipe_conventions(clf, caption, label):
    att = clf.classify(None, caption)
    assert att.label == label, att.evidence


def test_money_in_the_news_cancels_the_price_cue(clf):
    for caption in ("Stadium deal worth $1.2 billion", "Casino group seeks to refinance US$1.25-bln loan",
                    "Start-up raises $20m"):
        att = clf.classify(None, caption)
        price = sum(e[2] for e in att.evidence if e[1] == "commercial" and "$" in e[3])
        assert price <= 0, att.evidence
