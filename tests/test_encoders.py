import numpy as np
import pytest
import torch

from provenance.encoders import EncoderIdentity, load_encoder, parse_spec
from provenance.errors import EncoderError, EncoderMismatch


def test_spec_forms():
    assert parse_spec("tiny").kind == "tiny"
    s = parse_spec("open_clip:ViT-B-32/laion2b_s34b_b79k")
    assert (s.arch, s.tag, s.model_id, s.has_trained_weights) == ("ViT-B-32", "laion2b_s34b_b79k", "ViT-B-32/laion2b_s34b_b79k", True)
    s = parse_spec("ViT-L-14/openai")  # prefix optional
    assert s.text == "open_clip:ViT-L-14/openai"
    s = parse_spec("open_clip:ViT-B-32@weights/w.safetensors")
    assert s.weights_path == "weights/w.safetensors" and s.model_id == "ViT-B-32@file"
    s = parse_spec("open_clip:ViT-B-32")
    assert not s.has_trained_weights
    assert parse_spec("open_clip:hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K").hub.startswith("hf-hub:")


@pytest.mark.parametrize(
    "spec, words",
    [
        ("", ["empty"]),
        ("clip:ViT-B-32", ["unknown encoder kind", "open_clip:"]),
        ("open_clip:ViT-B-33/openai", ["unknown open_clip architecture", "ViT-B-32"]),
        ("open_clip:ViT-B-32/nonsense", ["unknown pretrained tag", "laion2b_s34b_b79k"]),
        ("open_clip:ViT-B-32@", ["give a weights file"]),
    ],
)
def test_bad_specs_name_the_problem(spec, words):
    with pytest.raises(EncoderError) as e:
        parse_spec(spec)
    for w in words:
        assert w in str(e.value)


def test_tiny_embeddings_are_unit_float32_and_deterministic(photos):
    enc = load_encoder("tiny", precision="fp32")
    ims = [photos["chelsea"], photos["rocket"]]
    a = enc.embed_images(ims)
    b = load_encoder("tiny", precision="fp32").embed_images(ims)
    assert a.dtype == np.float32 and a.shape == (2, enc.dim)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-6)
    t = enc.embed_texts(["a cat", "a rocket", "a third prompt"])
    assert t.shape == (3, enc.dim)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert not enc.trained and enc.identity.trained is False
    assert enc.device == ("cuda" if torch.cuda.is_available() else "cpu")


def test_batched_embedding_matches_the_models_own_transform_in_order(photos):
    """embed_images resizes batches ahead with the fast CLIP preprocessing: same vectors, same order."""
    enc = load_encoder("tiny", precision="fp32")
    names = ["chelsea", "rocket", "coffee", "astronaut", "camera"]
    ims = [photos[n] for n in names]
    got = enc.embed_images(ims, batch_size=2)  # three batches: two ahead, one more submitted later
    ref = enc.embed_pixels(torch.stack([enc.preprocess(im.convert("RGB")) for im in ims]))
    assert got.shape == ref.shape == (5, enc.dim)
    cos = (got * ref).sum(axis=1)
    assert cos.min() > 0.9999, cos
    np.testing.assert_allclose(enc.embed_images(ims[:4], batch_size=2), got[:4], atol=1e-5)  # exactly two batches ahead
    assert enc.embed_images([]).shape == (0, enc.dim)


def test_reduced_precision_is_checked_against_fp32(photos):
    enc = load_encoder("tiny", precision="bf16")
    ref = load_encoder("tiny", precision="fp32").embed_images([photos["chelsea"], photos["coins"]])
    got = enc.embed_images([photos["chelsea"], photos["coins"]])
    check = enc.precision_check
    assert check["requested"] == "bf16" and check["threshold"] == 0.999
    assert enc.precision == check["used"]
    if enc.precision == "bf16":
        assert check["min_cosine_vs_fp32"] >= 0.999
    assert float((ref * got).sum(axis=1).min()) >= 0.999


def test_local_safetensors_weights_have_the_same_identity(tmp_path):
    from safetensors.torch import save_file

    tiny = load_encoder("tiny", precision="fp32")
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny._model.state_dict().items()}, str(path))
    local = load_encoder(f"open_clip:provenance-tiny@{path}", precision="fp32")
    assert local.fingerprint == tiny.fingerprint
    assert local.identity.trained is False  # the tiny architecture is never trained, wherever it is loaded from
    tiny.identity  # compatible both ways:
    EncoderIdentity.from_dict(tiny.identity.to_dict()).check_compatible(local.identity)


def test_pickled_weights_are_never_loaded(tmp_path):
    """A .pt holding arbitrary objects is refused by weights-only loading: no code runs."""

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(EncoderError) as e:
        load_encoder(f"open_clip:provenance-tiny@{path}")
    assert "pickled" in str(e.value) and "safetensors" in str(e.value)


def test_missing_weights_file():
    with pytest.raises(EncoderError, match="does not exist"):
        load_encoder("open_clip:ViT-B-32@/nonexistent/w.safetensors")


def test_unfetchable_weights_say_how_to_pass_local_ones(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderError) as e:
        load_encoder("open_clip:ViT-B-32/laion2b_s34b_b79k")
    msg = str(e.value)
    assert "open_clip:ViT-B-32/laion2b_s34b_b79k" in msg and "open_clip:ViT-B-32@" in msg


def test_identity_mismatch_is_refused():
    a = EncoderIdentity("tiny", "tiny", 256, "abc", False)
    b = EncoderIdentity("open_clip:ViT-B-32/openai", "ViT-B-32/openai", 512, "def", True)
    with pytest.raises(EncoderMismatch) as e:
        a.check_compatible(b, "index demo")
    assert "index demo" in str(e.value) and "tiny" in str(e.value)
    # unknown fingerprint (ingested embeddings): architecture and dimension must still agree
    c = EncoderIdentity("open_clip:ViT-B-32/openai", "ViT-B-32/openai", 512, None, True)
    c.check_compatible(EncoderIdentity("open_clip:ViT-B-32@w.safetensors", "ViT-B-32@file", 512, "x", True))
    with pytest.raises(EncoderMismatch):
        c.check_compatible(EncoderIdentity("open_clip:ViT-L-14@w.safetensors", "ViT-L-14@file", 768, "x", True))
