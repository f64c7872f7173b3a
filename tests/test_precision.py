"""--precision: resolution of auto, the first-batch check against float32, fallback, and the manifest record."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from helpers import run_cli
from provenance.encoders import load_encoder, model as model_mod, precision as precision_mod
from provenance.encoders.precision import cpu_has_bf16, resolve_precision
from provenance.errors import UsageError


def test_auto_resolves_by_device(monkeypatch):
    assert resolve_precision("auto", "cuda") == "fp16"
    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    for explicit in ("fp32", "bf16", "fp16"):
        assert resolve_precision(explicit, "cpu") == explicit
    with pytest.raises(UsageError, match="unknown precision"):
        resolve_precision("int8", "cpu")


def test_reduced_precision_that_drifts_falls_back_with_a_warning(monkeypatch, photos):
    monkeypatch.setattr(model_mod, "MIN_COSINE", 1.5)  # no reduced precision can pass this
    enc = load_encoder("tiny", precision="bf16")
    ims = [photos["chelsea"], photos["coins"], photos["rocket"]]
    with pytest.warns(RuntimeWarning, match="using fp32"):
        got = enc.embed_images(ims)
    assert enc.precision == "fp32" and enc.precision_check["used"] == "fp32"
    assert enc.precision_check["requested"] == "bf16" and enc.precision_check["min_cosine_vs_fp32"] < 1.5
    ref = load_encoder("tiny", precision="fp32").embed_images(ims)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the check runs once: later batches do not warn again
        np.testing.assert_allclose(enc.embed_images(ims), ref, atol=1e-6)


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 matrix units")
def test_vit_b32_bf16_stays_within_cosine_0999_of_fp32(photos):
    ims = [photos[n] for n in ("astronaut", "chelsea", "coffee", "page", "rocket", "retina")]
    ref = load_encoder("open_clip:ViT-B-32", precision="fp32").embed_images(ims)
    enc = load_encoder("open_clip:ViT-B-32", precision="auto")
    got = enc.embed_images(ims)
    assert enc.precision == "bf16" and enc.precision_check["min_cosine_vs_fp32"] >= 0.999
    assert float(np.sum(got * ref, axis=1).min()) >= 0.999
    assert next(enc._model.parameters()).dtype.is_floating_point and str(next(enc._model.parameters()).dtype) == "torch.bfloat16"


@pytest.mark.parametrize("requested", ["fp32", "bf16"])
def test_manifest_records_the_precision_used(image_folder, tmp_path, requested):
    r = run_cli("index", tmp_path / "ix", "--from", image_folder, "--encoder", "tiny", "--precision", requested,
                "--no-progress", "--json", "--no-faces")
    report = json.loads(r.stdout)
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["precision"] == report["precision"]
    if requested == "fp32":
        assert manifest["precision"] == "fp32"
    else:
        # bf16 is kept only when it passed the first-batch check; either way the manifest says what was used
        assert manifest["precision"] in ("bf16", "fp32")
