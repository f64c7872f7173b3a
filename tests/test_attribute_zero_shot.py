"""CLIP zero-shot source prompts: refused for untrained encoders, used (and bounded) for trained ones.

No trained CLIP weights can be downloaded here, so the "trained" case uses a stand-in encoder
whose embedding geometry is known by construction (each class's prompts embed to that class's
axis). It checks the scoring math and the plumbing honestly; it says nothing about CLIP's accuracy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from provenance.attribute import load_taxonomy
from provenance.attribute.hooks import AttributionLabeler
from provenance.attribute.zeroshot import ZeroShot, zero_shot_decision
from provenance.errors import UsageError

TINY = {"spec": "tiny", "model_id": "tiny", "dim": 256, "fingerprint": "x", "trained": False}
TRAINED = {"spec": "open_clip:stand-in@file", "model_id": "stand-in", "dim": 8, "fingerprint": "y", "trained": True}


class KnownGeometryEncoder:
    """Text encoder stand-in: a prompt of class i embeds to the unit vector e_i (dimension 8)."""

    def __init__(self):
        tax = load_taxonomy()
        self.classes = tax.classes
        self.prompt_class = {p: c for c in tax.classes for p in tax.prompts[c]}
        self.calls = []

    def axis(self, cls: str) -> np.ndarray:
        v = np.zeros(8, dtype=np.float32)
        v[self.classes.index(cls)] = 1.0
        return v

    def embed_texts(self, texts):
        self.calls.append(list(texts))
        return np.stack([self.axis(self.prompt_class[t]) for t in texts])


def test_untrained_encoders_are_refused():
    use, why = zero_shot_decision(None, TINY, object())
    assert use is False and "untrained" in why
    with pytest.raises(UsageError, match="trained weights"):
        zero_shot_decision(True, TINY, object())
    assert zero_shot_decision(False, TRAINED, KnownGeometryEncoder()) == (False, "disabled (--no-zero-shot)")


def test_trained_identity_without_a_loaded_model_cannot_embed_prompts():
    use, why = zero_shot_decision(None, TRAINED, None)
    assert use is False and "not loaded" in why
    with pytest.raises(UsageError):
        zero_shot_decision(True, TRAINED, None)


def test_tiny_build_records_why_zero_shot_is_off(image_folder, cli_run, indexes_home):
    cli_run("index", "zs", "--from", image_folder, "--encoder", "tiny", "--no-progress", "--no-faces")
    manifest = json.loads((indexes_home / "zs" / "manifest.json").read_text())
    zs = manifest["attribution"]["zero_shot"]
    assert zs["enabled"] is False and "untrained" in zs["reason"]
    assert manifest["attribution"]["signals"]["zero_shot"] is False


def test_cli_refuses_zero_shot_with_tiny(image_folder, cli_run, indexes_home):
    r = cli_run("index", "zs2", "--from", image_folder, "--encoder", "tiny", "--zero-shot", "--no-progress", expect=2)
    assert "trained weights" in r.output and "Traceback" not in r.output
    assert not (indexes_home / "zs2" / "manifest.json").exists()


def test_prompt_scores_with_a_trained_stand_in():
    enc = KnownGeometryEncoder()
    zs = ZeroShot(load_taxonomy(), enc)
    assert len(enc.calls) == 1 and len(enc.calls[0]) == zs.n_prompts  # prompts embedded once, together
    ev = zs.evidence(np.stack([enc.axis("stock"), np.ones(8, dtype=np.float32) / np.sqrt(8)]))
    assert set(ev[0]) == {"stock"} and ev[0]["stock"] > 0  # only the class the picture looks like gains
    assert ev[1] == {}  # a picture equally close to every class gets no evidence


def test_labeler_uses_zero_shot_for_trained_encoders_without_overruling_hosts():
    enc = KnownGeometryEncoder()
    lab = AttributionLabeler(zero_shot=None, faces=False)
    lab.prepare(TRAINED, enc)
    d = lab.describe()
    assert d["zero_shot"]["enabled"] and d["signals"]["zero_shot"] and d["zero_shot"]["prompts"] > 10
    rows = [{"url": "https://example.org/a.jpg", "caption": "a picture"},
            {"url": "https://i.ebayimg.com/images/g/abc/s-l500.jpg", "caption": "Nike shoes"}]
    lab(rows, np.stack([enc.axis("stock"), enc.axis("stock")]))
    ev0 = json.loads(rows[0]["evidence"])
    assert ["zero_shot", "stock", 1.5, "CLIP prompts"] in ev0
    assert rows[0]["label"] == "stock"  # thin URL / caption evidence: the picture's look decides
    assert rows[1]["label"] == "commercial"  # a marketplace host is not overruled by the look


def test_labeler_with_tiny_never_embeds_prompts():
    class Spy:
        def embed_texts(self, texts):  # pragma: no cover - must not be called
            raise AssertionError("prompts embedded with an untrained encoder")

    lab = AttributionLabeler(faces=False)
    lab.prepare(TINY, Spy())
    rows = [{"url": None, "caption": "a photo"}]
    lab(rows, np.zeros((1, 256), dtype=np.float32))
    assert "zero_shot" not in rows[0]["evidence"]
    assert lab.describe()["zero_shot"]["enabled"] is False
