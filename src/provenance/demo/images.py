"""Pictures for the demo: scikit-image's bundled photos and the edits that make variants.

Everything here works offline: these sample images ship inside the scikit-image
wheel (the ones that would be downloaded on first use are not used).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

MAX_SIDE = 256
FACE_SIDE = 128

# name -> (subject slug, caption subject): the offline-loadable samples of scikit-image 0.22+.
PHOTOS = {
    "astronaut": "astronaut portrait in a spacesuit",
    "brick": "red brick wall texture",
    "camera": "photographer with a vintage camera",
    "cat": "tabby cat",
    "chelsea": "ginger cat on a sofa",
    "clock": "old wall clock",
    "coffee": "cup of coffee on a table",
    "coins": "old silver coins",
    "colorwheel": "colour wheel",
    "grass": "green grass texture",
    "gravel": "gravel path texture",
    "horse": "horse silhouette",
    "hubble_deep_field": "Hubble deep field galaxies",
    "immunohistochemistry": "immunohistochemistry stained tissue",
    "logo": "scikit-image logo",
    "microaneurysms": "retinal microaneurysms close-up",
    "moon": "full moon surface",
    "page": "scanned book page",
    "retina": "human retina fundus photo",
    "rocket": "rocket on the launch pad",
    "motorcycle": "red motorcycle in a studio",
    "text": "hand-painted sign text",
}


def _to_pil(arr: np.ndarray) -> Image.Image:
    a = np.asarray(arr)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 4:
        return _flatten(Image.fromarray(a, "RGBA"))
    return Image.fromarray(a).convert("RGB")


def _flatten(im: Image.Image) -> Image.Image:
    bg = Image.new("RGB", im.size, (255, 255, 255))
    bg.paste(im, mask=im.getchannel("A"))
    return bg


def fit(im: Image.Image, side: int = MAX_SIDE) -> Image.Image:
    im = im.copy()
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    return im


@lru_cache(maxsize=1)
def photos() -> dict[str, Image.Image]:
    """The bundled photos as RGB images, longest side :data:`MAX_SIDE`."""
    from skimage import data

    out = {}
    for name in PHOTOS:
        arr = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        out[name] = fit(_to_pil(arr))
    return out


@lru_cache(maxsize=1)
def lfw() -> tuple[list[Image.Image], list[Image.Image]]:
    """scikit-image's LFW subset: (100 face crops, 100 non-face patches), upscaled to :data:`FACE_SIDE`."""
    from skimage import data

    arr = data.lfw_subset()
    ims = [_to_pil(a).resize((FACE_SIDE, FACE_SIDE), Image.Resampling.BICUBIC) for a in arr]
    return ims[:100], ims[100:]


# -- edits ---------------------------------------------------------------------------
def crop(im: Image.Image, rng: np.random.Generator, keep: float = 0.8) -> Image.Image:
    w, h = im.size
    cw, ch = int(w * keep), int(h * keep)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return im.crop((x, y, x + cw, y + ch))


def colour_shift(im: Image.Image, rng: np.random.Generator, strength: float = 0.15) -> Image.Image:
    gains = 1.0 + rng.uniform(-strength, strength, 3)
    a = np.asarray(im, dtype=np.float32) * gains
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def tint(im: Image.Image, rgb: tuple[int, int, int], amount: float = 0.25) -> Image.Image:
    return Image.blend(im, Image.new("RGB", im.size, rgb), amount)


def sepia(im: Image.Image) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(im), (40, 26, 13), (255, 240, 192))


def flip(im: Image.Image) -> Image.Image:
    return ImageOps.mirror(im)


def brighten(im: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(factor)


def contrast(im: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Contrast(im).enhance(factor)


def blur(im: Image.Image, radius: float = 1.2) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(radius))


def overlay_text(im: Image.Image, text: str, *, size: int | None = None, fill=(255, 255, 255)) -> Image.Image:
    """Text drawn across the middle, like a stock agency's watermark or a meme caption."""
    im = im.copy()
    draw = ImageDraw.Draw(im)
    size = size or max(12, im.size[0] // 9)
    font = ImageFont.load_default(size=size)
    box = draw.textbbox((0, 0), text, font=font)
    x = (im.size[0] - (box[2] - box[0])) // 2
    y = (im.size[1] - (box[3] - box[1])) // 2
    draw.text((x, y), text, font=font, fill=fill)
    return im


def paste(background: Image.Image, subject: Image.Image, *, scale: float = 0.5, where: tuple[float, float] = (0.5, 0.5)) -> Image.Image:
    """``subject`` pasted onto ``background`` (a person placed in a scene), with a soft oval mask."""
    bg = background.copy()
    side = int(min(bg.size) * scale)
    s = subject.resize((side, side), Image.Resampling.BICUBIC)
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(side / 20))
    x = int((bg.size[0] - side) * where[0])
    y = int((bg.size[1] - side) * where[1])
    bg.paste(s, (x, y), mask)
    return bg


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    h = min(a.size[1], b.size[1], MAX_SIDE)
    a = a.resize((max(1, a.size[0] * h // a.size[1]), h))
    b = b.resize((max(1, b.size[0] * h // b.size[1]), h))
    out = Image.new("RGB", (a.size[0] + b.size[0], h))
    out.paste(a, (0, 0))
    out.paste(b, (a.size[0], 0))
    return fit(out)
