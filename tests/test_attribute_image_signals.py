"""Pixel signals: the Haar face cue (selfie framing) and stock watermarks read by OCR.

Images come from scikit-image's bundled samples (astronaut is a portrait) or are drawn here.
"""

from __future__ import annotations

import threading

import pytest
from PIL import Image, ImageDraw, ImageFont

from provenance.attribute import SourceClassifier, load_taxonomy
from provenance.attribute.faces import face_signals
from provenance.attribute.hooks import build_hooks
from provenance.attribute.watermark import match_watermark, watermark_signals


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return Image.fromarray(data.astronaut()).convert("RGB")


def selfie_crop(im):
    # The astronaut's face spans x 177-272, y 66-161 of 512: a tight crop around it is arm's-length framing.
    return im.crop((110, 20, 340, 260))


def small_in_scene(im):
    canvas = Image.new("RGB", (1600, 1200), (90, 120, 90))
    canvas.paste(im.resize((160, 160)), (1200, 900))
    return canvas


def drawn_text(word: str, size=(640, 400), font_size=72, background=None):
    from skimage import data

    im = (background or Image.fromarray(data.coffee()).convert("RGB")).resize(size)
    draw = ImageDraw.Draw(im)
    draw.text((40, size[1] // 2 - font_size // 2), word, fill=(255, 255, 255), font=ImageFont.load_default(size=font_size))
    return im


def test_portrait_face_is_found_but_is_not_selfie_framed(astronaut):
    s = face_signals(astronaut)
    assert s["img_faces"] == 1
    assert 0.02 < s["img_face_frac"] < 0.08
    assert s["img_selfie_framing"] is False


def test_tight_crop_of_a_face_is_selfie_framing(astronaut):
    s = face_signals(selfie_crop(astronaut))
    assert s["img_faces"] == 1
    assert s["img_face_frac"] > 0.1
    assert s["img_selfie_framing"] is True


def test_small_face_in_a_big_scene_is_not_a_selfie(astronaut):
    s = face_signals(small_in_scene(astronaut))
    assert s["img_selfie_framing"] is False
    assert s["img_face_frac"] < 0.05


def test_no_faces_in_a_cup_of_coffee():
    from skimage import data

    assert face_signals(Image.fromarray(data.coffee())) == {"img_faces": 0, "img_face_frac": 0.0, "img_selfie_framing": False}


def test_face_cue_is_personal_evidence_and_sets_selfie_with_a_personal_label(astronaut):
    clf = SourceClassifier()
    sig = face_signals(selfie_crop(astronaut))
    att = clf.classify("https://scontent.cdninstagram.com/v/t51/123_n.jpg", "sunday vibes", image=sig)
    assert att.label == "personal" and att.selfie
    assert ["image", "personal", 1.2, "one large central face"] in att.evidence
    # the same framing on a stock agency's host is a studio portrait, not a selfie
    stock = clf.classify("https://www.shutterstock.com/image-photo/portrait-260nw-1.jpg", None, image=sig)
    assert stock.label == "stock" and not stock.selfie


def test_analyzer_is_thread_safe(astronaut):
    analyze = build_hooks(faces=True, ocr=False)["analyzer"]
    crop = selfie_crop(astronaut)
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append(analyze(crop))
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 12 and all(r["img_selfie_framing"] for r in results)


def test_analyzer_off_when_no_pixel_cue_is_wanted():
    assert build_hooks(faces=False, ocr=False)["analyzer"] is None


@pytest.mark.slow
def test_ocr_reads_stock_watermarks_drawn_on_a_photo():
    marks = load_taxonomy().watermarks
    for word, name in (("shutterstock", "shutterstock"), ("gettyimages", "gettyimages")):
        s = watermark_signals(drawn_text(word), marks)
        assert s["img_watermark"] == name, s
        assert s["img_watermark_conf"] > 0.8
    # Small and large generations: the detector works at most DET_SIDE px on the long side (no upscaling).
    for size, font in (((384, 384), 40), ((1024, 1024), 110), ((1400, 800), 120)):
        s = watermark_signals(drawn_text("shutterstock", size=size, font_size=font), marks)
        assert s["img_watermark"] == "shutterstock", (size, s)
    from skimage import data

    assert watermark_signals(Image.fromarray(data.coffee()), marks) == {"img_watermark": None}


@pytest.mark.slow
def test_watermark_is_stock_evidence_in_the_label():
    analyze = build_hooks(faces=True, ocr=True)["analyzer"]
    sig = analyze(drawn_text("shutterstock"))
    att = SourceClassifier().classify("https://example.org/uploads/pic.jpg", "a cup of coffee", image=sig)
    assert att.label == "stock"
    assert ["image", "stock", 4.0, "watermark 'shutterstock'"] in att.evidence


def test_watermark_matching_tolerates_ocr_slips_in_long_names_only():
    marks = load_taxonomy().watermarks
    assert match_watermark([("Shutterstck", 0.9)], marks)["name"] == "shutterstock"
    assert match_watermark([("© Getty Images", 0.95)], marks)["name"] == "gettyimages"
    assert match_watermark([("alamy", 0.9)], marks)["name"] == "alamy"
    assert match_watermark([("alany", 0.9)], marks) is None  # short names must match exactly
    assert match_watermark([("shutterstock", 0.2)], marks) is None  # unsure OCR is ignored
    assert match_watermark([("the stockholm syndrome", 0.99)], marks) is None
