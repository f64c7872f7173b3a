"""The demo corpus: a small LAION-style folder (images + caption/URL sidecars) made offline.

Items: scikit-image's bundled photos and edited variants of them (crops, colour
shifts, flips, sepia, recompressions, composites), the 100 LFW face crops and 100
non-face patches that scikit-image bundles, and faces placed in scenes. Each item
gets a caption and a URL of a publisher of one kind (stock agency, social CDN,
shop, news site, art site, reference site), drawn per picture from a plausible mix:
the same picture re-posted on several kinds of site, as on the real web.

Each sidecar also records ``demo_source`` (the kind of publisher the generator
chose) and ``demo_origin`` / ``demo_edit`` (what the picture is made from): the
ground truth a source classifier can be checked against.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from ..util.atomic import atomic_write_json
from . import images as im
from .hosts import SOURCES, make_url

CORPUS_VERSION = 1
MARKER = "DEMO_CORPUS.json"
SEED = 20241125

# Per picture: how its re-posts spread over kinds of publisher (weights for SOURCES order).
MIX = {
    "astronaut": (0.1, 0.3, 0.1, 0.4, 0.1, 0.0),
    "brick": (0.0, 0.5, 0.2, 0.0, 0.1, 0.2),
    "camera": (0.0, 0.2, 0.0, 0.3, 0.3, 0.2),
    "cat": (0.5, 0.2, 0.2, 0.0, 0.1, 0.0),
    "chelsea": (0.6, 0.2, 0.0, 0.0, 0.2, 0.0),
    "clock": (0.2, 0.3, 0.5, 0.0, 0.0, 0.0),
    "coffee": (0.3, 0.3, 0.4, 0.0, 0.0, 0.0),
    "coins": (0.0, 0.3, 0.4, 0.0, 0.0, 0.3),
    "colorwheel": (0.0, 0.2, 0.0, 0.0, 0.4, 0.4),
    "grass": (0.2, 0.6, 0.0, 0.0, 0.0, 0.2),
    "gravel": (0.0, 0.6, 0.2, 0.0, 0.0, 0.2),
    "horse": (0.0, 0.3, 0.0, 0.0, 0.5, 0.2),
    "hubble_deep_field": (0.0, 0.0, 0.0, 0.5, 0.2, 0.3),
    "immunohistochemistry": (0.0, 0.0, 0.0, 0.2, 0.0, 0.8),
    "logo": (0.0, 0.0, 0.2, 0.0, 0.0, 0.8),
    "microaneurysms": (0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    "moon": (0.3, 0.3, 0.0, 0.4, 0.0, 0.0),
    "page": (0.0, 0.0, 0.0, 0.3, 0.0, 0.7),
    "retina": (0.0, 0.0, 0.0, 0.2, 0.0, 0.8),
    "rocket": (0.2, 0.2, 0.0, 0.6, 0.0, 0.0),
    "motorcycle": (0.2, 0.0, 0.6, 0.2, 0.0, 0.0),
    "text": (0.0, 0.0, 0.0, 0.0, 0.2, 0.8),
    "face": (0.5, 0.2, 0.1, 0.2, 0.0, 0.0),
    "patch": (0.3, 0.3, 0.0, 0.0, 0.0, 0.4),
    "scene": (0.45, 0.3, 0.15, 0.1, 0.0, 0.0),
}

# Scenes the demo study asks for, and the bundled photos that stand in for their backgrounds.
SCENES = {"family": ("chelsea", "cat", "coffee"), "vacation": ("rocket", "moon", "motorcycle"), "work": ("page", "clock", "camera")}
# Which LFW faces stand for which cohort (the subset has no ages: this split is arbitrary and says so).
COHORTS = {"boomers": range(0, 25), "gen_x": range(25, 50), "millennials": range(50, 75), "gen_z": range(75, 100)}

CAPTIONS = {
    "stock": ("{S} isolated on white background stock photo", "{S} - royalty free stock image", "Close-up of {s}. High quality photo",
              "{S} stock picture, image and royalty-free photo"),
    "personal": ("my {s} this morning &#128525; #nofilter", "me and my {s} lol", "Finally got a decent shot of the {s}!! #weekend",
                 "IMG_{n}", "look what I found today... {s} <3"),
    "commercial": ("{S} - Buy Online | Free Shipping", "{S} &amp; accessories, Size M, $24.99", "New {S} <b>SALE</b> 30% off",
                   "{S} | Shop now at our store"),
    "editorial": ("{S}, pictured on Tuesday. Photograph: Reuters", "The {s} seen in a photo released by the agency on Monday.",
                  "<p>{S}: what we know so far</p>", "{S} (AP Photo)"),
    "art": ("{S} by jane_doe, digital painting", "Study of a {s} - oil on canvas", "{S} fan art #illustration", "{S}, linocut print"),
    "other": ("File:{S}.jpg", "Figure 2. {S} (scale bar 50 µm)", "{S} diagram", "{S} - Wikipedia"),
}
FACE_SUBJECTS = {
    "stock": "portrait of a smiling {age} person",
    "personal": "selfie with my {rel}",
    "commercial": "model wearing our classic crew-neck tee",
    "editorial": "a delegate speaks to reporters",
    "art": "portrait sketch",
    "other": "face",
}
AGES = {"boomers": "senior", "gen_x": "middle-aged", "millennials": "young", "gen_z": "teenage"}


@dataclass
class CorpusItem:
    path: str  # relative to the corpus root
    image: Image.Image
    meta: dict[str, Any]


@dataclass
class Corpus:
    root: Path
    count: int
    sources: dict[str, int]
    edits: dict[str, int]
    built: bool  # False when an identical corpus was already there
    seconds: float = 0.0
    items: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "count": self.count, "sources": self.sources, "edits": self.edits, "built": self.built,
                "seconds": self.seconds}


def _caption(rng, source: str, subject: str) -> str:
    t = CAPTIONS[source][int(rng.integers(len(CAPTIONS[source])))]
    return t.format(S=subject[:1].upper() + subject[1:], s=subject, n=int(rng.integers(1000, 9999)))


def _meta(rng, mix_key: str, subject: str, origin: str, edit: str) -> dict[str, Any]:
    source = SOURCES[int(rng.choice(len(SOURCES), p=np.asarray(MIX[mix_key]) / sum(MIX[mix_key])))]
    slug = "-".join(subject.lower().replace(",", "").split())[:60]
    return {"caption": _caption(rng, source, subject), "url": make_url(rng, source, slug),
            "demo_source": source, "demo_origin": origin, "demo_edit": edit}


def face_subject(source: str, cohort: str, rng) -> str:
    return FACE_SUBJECTS[source].format(age=AGES[cohort], rel=str(rng.choice(["mum", "dad", "sister", "best friend", "kids"])))


def cohort_of_face(i: int) -> str:
    return next(c for c, r in COHORTS.items() if i in r)


def iter_items(seed: int = SEED) -> Iterator[CorpusItem]:
    """Every corpus item, deterministically (same seed, same pictures and metadata)."""
    rng = np.random.default_rng(seed)
    photos = im.photos()
    faces, patches = im.lfw()
    for name, picture in photos.items():
        subject = im.PHOTOS[name]
        edits = {
            "original": picture,
            "crop-1": im.crop(picture, rng, 0.8),
            "crop-2": im.crop(picture, rng, 0.65),
            "colour": im.colour_shift(picture, rng),
            "flip": im.flip(picture),
            "sepia": im.sepia(picture),
            "bright": im.brighten(picture, 1.35),
            "contrast": im.contrast(picture, 1.5),
        }
        for edit, pic in edits.items():
            yield CorpusItem(f"photos/{name}-{edit}.jpg", pic, _meta(rng, name, subject, name, edit))
    for i, face in enumerate(faces):
        cohort = cohort_of_face(i)
        meta = _meta(rng, "face", "", f"lfw-face-{i:03d}", "upscale")
        meta["caption"] = _caption(rng, meta["demo_source"], face_subject(meta["demo_source"], cohort, rng))
        yield CorpusItem(f"faces/face-{i:03d}.jpg", im.colour_shift(face, rng, 0.1), meta)
    for i, patch in enumerate(patches):
        yield CorpusItem(f"patches/patch-{i:03d}.jpg", patch, _meta(rng, "patch", "texture detail", f"lfw-patch-{i:03d}", "upscale"))
    # People in scenes: every face placed in one background of a scene.
    for i, face in enumerate(faces):
        scene = list(SCENES)[i % len(SCENES)]
        bg_name = SCENES[scene][(i // len(SCENES)) % 3]
        cohort = cohort_of_face(i)
        pic = im.paste(photos[bg_name], face, scale=float(rng.uniform(0.4, 0.6)), where=(float(rng.uniform(0.2, 0.8)), 0.5))
        meta = _meta(rng, "scene", "", f"lfw-face-{i:03d}+{bg_name}", "composite")
        subject = f"{AGES[cohort]} person {('with family' if scene == 'family' else 'on vacation' if scene == 'vacation' else 'at work')}"
        meta["caption"] = _caption(rng, meta["demo_source"], subject)
        yield CorpusItem(f"scenes/{scene}-{i:03d}.jpg", pic, meta)


def build_corpus(root: str | os.PathLike, seed: int = SEED, force: bool = False) -> Corpus:
    """Write the demo corpus under ``root`` (images + ``.json`` sidecars), unless an identical one is there."""
    import time

    t0 = time.time()
    root = Path(root)
    marker = root / MARKER
    if not force and marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("version") == CORPUS_VERSION and info.get("seed") == seed and _complete(root, info):
            return Corpus(root, info["count"], info["sources"], info["edits"], built=False, items=info["items"])
    marker.unlink(missing_ok=True)
    sources, edits, paths = Counter(), Counter(), []
    for item in iter_items(seed):
        dest = root / item.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        item.image.convert("RGB").save(dest, quality=90)
        dest.with_suffix(".json").write_text(json.dumps(item.meta, ensure_ascii=False))
        sources[item.meta["demo_source"]] += 1
        edits[item.meta["demo_edit"]] += 1
        paths.append(item.path)
    info = {"version": CORPUS_VERSION, "seed": seed, "count": len(paths), "sources": dict(sources), "edits": dict(edits), "items": paths}
    atomic_write_json(marker, info)
    return Corpus(root, len(paths), dict(sources), dict(edits), built=True, seconds=round(time.time() - t0, 2), items=paths)


def _complete(root: Path, info: dict) -> bool:
    return all((root / p).is_file() for p in info.get("items", ()))


def is_demo_corpus(path: str | os.PathLike) -> bool:
    return (Path(path) / MARKER).is_file()
