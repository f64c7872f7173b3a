"""The embedding pipeline: fast preprocessing equals the model's own, order and skips, reduced-scale JPEG decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import jpeg_bytes
from provenance.embed import embed_items
from provenance.embed.preprocess import fast_preprocess
from provenance.encoders import load_encoder
from provenance.ingest.decode import decode_image
from provenance.ingest.items import Item, Skip


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("tiny", precision="fp32")


def _variants(photos) -> list[Image.Image]:
    """Odd sizes and aspect ratios: portrait, landscape, smaller than the model input, exact."""
    base = [photos["astronaut"], photos["coins"], photos["rocket"], photos["text"]]
    sizes = [(640, 480), (300, 900), (150, 100), (224, 224), (1001, 333)]
    return [im.resize(s, Image.BICUBIC) for im in base for s in sizes]


def test_fast_preprocess_equals_the_models_transform(tiny, photos):
    import open_clip

    for size, transform in ((96, tiny.preprocess), (224, open_clip.image_transform(224, is_train=False))):
        fast = fast_preprocess(transform)
        assert fast is not None and fast.resize == size and fast.crop == (size, size)
        ims = _variants(photos)
        ref = torch.stack([transform(im) for im in ims])
        got = fast.normalise(torch.from_numpy(np.stack([fast.pixels(im) for im in ims])))
        assert got.shape == ref.shape and got.dtype == torch.float32
        assert float((got - ref).abs().max()) < 1e-5


def test_unknown_transforms_are_not_imitated(tiny):
    from torchvision import transforms as T

    assert fast_preprocess(lambda im: im) is None
    train_like = T.Compose([T.RandomResizedCrop(224), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    assert fast_preprocess(train_like) is None
    padded = T.Compose([T.Resize(200, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                        T.Normalize((0.5,) * 3, (0.5,) * 3)])
    assert fast_preprocess(padded) is None  # torchvision would pad: leave it to the transform


def _items(blobs: list[bytes]) -> list[Item]:
    return [Item(key=f"k{i}", ref=f"r{i}", meta={}, image_bytes=b) for i, b in enumerate(blobs)]


def test_order_skips_and_vectors_match_the_encoder(tiny, photos):
    ims = _variants(photos)[:9]
    pngs = []
    for im in ims:
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        pngs.append(buf.getvalue())
    stream: list = _items(pngs)
    stream.insert(2, Item(key="bad", ref="bad", meta={}, image_bytes=b"not an image"))
    stream.insert(5, Skip("given", "missing file"))
    out = list(embed_items(stream, tiny, batch_size=4, workers=2))
    kinds = ["skip" if isinstance(o, Skip) else o[0].key for o in out]
    # skips come out no earlier than their position, items keep their order
    assert [k for k in kinds if k != "skip"] == [f"k{i}" for i in range(9)]
    assert sorted(o.reason for o in out if isinstance(o, Skip)) == ["missing file", "not an image"]
    vecs = np.stack([o[1] for o in out if not isinstance(o, Skip)])
    ref = tiny.embed_images(ims)  # PNGs are not drafted: same pixels, same vectors
    np.testing.assert_allclose(vecs, ref, atol=1e-5)
    sizes = [(o[0].meta["width"], o[0].meta["height"]) for o in out if not isinstance(o, Skip)]
    assert sizes == [im.size for im in ims]


def test_large_jpegs_decode_at_reduced_scale_and_still_match(tiny, photos):
    big = [photos[n].resize((1200, 900), Image.BICUBIC) for n in ("astronaut", "coffee", "horse", "rocket", "page")]
    blobs = [jpeg_bytes(im, quality=92) for im in big]
    drafted = decode_image(blobs[0], draft=224)
    assert drafted.size == (300, 225) and drafted.info["original_size"] == (1200, 900)
    out = list(embed_items(_items(blobs), tiny, batch_size=8))
    assert [(it.meta["width"], it.meta["height"]) for it, _ in out] == [(1200, 900)] * 5  # stored size, not decoded
    vecs = np.stack([v for _, v in out])
    full = tiny.embed_images([decode_image(b) for b in blobs])
    cos = np.sum(vecs * full, axis=1)
    assert cos.min() >= 0.995
    # each image is still closest to its own full-resolution embedding
    assert list(np.argmax(vecs @ full.T, axis=1)) == list(range(5))


def test_analyzers_see_full_resolution(tiny, photos):
    seen = []

    def analyze(im):
        seen.append(im.size)
        return {"analysed": True}

    blob = jpeg_bytes(photos["astronaut"].resize((1024, 1024)))
    (item, _), = list(embed_items(_items([blob]), tiny, analyze=analyze))
    assert seen == [(1024, 1024)] and item.meta["analysed"] is True


def test_pipeline_falls_back_to_the_encoders_transform(photos):
    enc = load_encoder("tiny", precision="fp32")
    own = enc.preprocess
    calls = []

    def custom(im):
        calls.append(im.size)
        return own(im)

    enc.preprocess = custom
    blob = jpeg_bytes(photos["coins"].resize((800, 600)))
    (item, vec), = list(embed_items(_items([blob]), enc))
    assert calls == [(800, 600)]  # not drafted: the fast path was not used
    np.testing.assert_allclose(vec, enc.embed_images([decode_image(blob)])[0], atol=1e-5)


@pytest.mark.skipif(not hasattr(__import__("os"), "SCHED_IDLE"), reason="SCHED_IDLE is Linux-only")
@pytest.mark.parametrize("mode", ["normal", "idle"])
def test_decode_threads_run_at_idle_priority_only_when_asked(tiny, photos, monkeypatch, mode):
    import os

    monkeypatch.setenv("PROVENANCE_DECODE_PRIORITY", mode)
    policies = []

    def analyze(im):
        policies.append(os.sched_getscheduler(0))  # the decode thread's own policy
        return {}

    blob = jpeg_bytes(photos["coins"])
    out = list(embed_items(_items([blob, blob]), tiny, analyze=analyze))
    assert len(out) == 2
    assert set(policies) == {os.SCHED_IDLE if mode == "idle" else os.SCHED_OTHER}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the caller's thread is untouched
