"""Example "generations" for the demo study, and their manifest.

These are synthetic stand-ins, not outputs of any image generator: no model
weights are available offline. Each one is made from the bundled photos the way
the demo corpus is, so that the report has something honest to trace:

* ``generator-A`` stand-ins place a face in a scene background with a new crop,
  framing and colour grade: new pictures that resemble the corpus without copying
  one item.
* ``generator-B`` stand-ins are edited near-copies (downscaled, blurred
  and recompressed; one also gets a drawn stock watermark) of one "people in a
  scene" item of the corpus: what a model that
  memorised a training image would produce. ``copied_from`` names that item, so a
  trace can be checked: it must come back at rank 1.

Which faces stand for which cohort is an arbitrary split of the LFW subset (it
carries no ages). Differences between groups in a report on these examples come
from how the stand-ins were made; they demonstrate the report, not a finding.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import images as im
from .corpus import COHORTS, SCENES, SEED, iter_items

MANIFEST_COLUMNS = ("path", "model", "cohort", "scene", "prompt", "seed", "construction", "copied_from")
COHORT_WORDS = {"boomers": "Baby Boomer", "gen_x": "Gen X", "millennials": "Millennial", "gen_z": "Gen Z"}
SCENE_WORDS = {"family": "with their family", "vacation": "on vacation", "work": "at work"}
MODELS = ("generator-A", "generator-B")
JPEG_QUALITY = 82
NEAR_COPY_QUALITY = 60
# One memorised stand-in also carries a stock watermark: the query-side watermark signal has something to find.
WATERMARKED = ("boomers", "work")


@dataclass
class Example:
    path: str
    model: str
    cohort: str
    scene: str
    prompt: str
    seed: int
    construction: str
    copied_from: str


def make_examples(out_dir: str | os.PathLike, seed: int = SEED) -> list[Example]:
    """Write the example generations and ``manifest.csv`` into ``out_dir``; deterministic."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed + 1)
    photos = im.photos()
    faces, _ = im.lfw()
    scene_items = {it.path: it for it in iter_items(seed) if it.path.startswith("scenes/")}
    examples: list[Example] = []
    for model in MODELS:
        for cohort, face_ids in COHORTS.items():
            for s_i, scene in enumerate(SCENES):
                gen_seed = int(rng.integers(1, 2**31))
                prompt = f"a photo of a {COHORT_WORDS[cohort]} person {SCENE_WORDS[scene]}"
                name = f"{model.lower()}/{cohort}-{scene}-{gen_seed}.jpg"
                if model == "generator-A":
                    face_id = face_ids[int(rng.integers(len(face_ids)))]
                    bg = SCENES[scene][int(rng.integers(3))]
                    pic = im.paste(im.crop(photos[bg], rng, 0.85), faces[face_id], scale=0.55, where=(0.5, 0.45))
                    pic = im.tint(pic, (255, 190, 120), 0.12)
                    construction = f"new composite: LFW face {face_id} in the '{bg}' photo, recropped and colour-graded"
                    copied = ""
                    quality = JPEG_QUALITY
                else:
                    # The corpus places face i in scene i % 3: pick one of this cohort's faces in this scene.
                    face_id = next(i for i in face_ids if i % len(SCENES) == s_i and i >= face_ids[0] + 3 * (gen_seed % 3))
                    source = next(p for p in scene_items if p.startswith(f"scenes/{scene}-{face_id:03d}"))
                    pic = scene_items[source].image
                    pic = im.blur(pic.resize((pic.size[0] * 7 // 8, pic.size[1] * 7 // 8)), 0.6)
                    construction = f"edited near-copy of corpus item {source} (downscaled to 7/8, blurred, JPEG q{NEAR_COPY_QUALITY})"
                    if (cohort, scene) == WATERMARKED:
                        pic = im.overlay_text(pic, "shutterstock", size=14)
                        construction += ", with a stock-agency watermark drawn on it"
                    quality = NEAR_COPY_QUALITY
                    copied = source
                dest = out / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                buf = io.BytesIO()
                pic.convert("RGB").save(buf, format="JPEG", quality=quality)
                dest.write_bytes(buf.getvalue())
                examples.append(Example(name, model, cohort, scene, prompt, gen_seed, construction, copied))
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(MANIFEST_COLUMNS)
        for e in examples:
            w.writerow([getattr(e, c) for c in MANIFEST_COLUMNS])
    return examples


def shipped_examples() -> Path | None:
    """``examples/generations`` of a source checkout (or editable install), if present."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "examples" / "generations" / "manifest.csv"
        if cand.is_file():
            return cand.parent
    return None
