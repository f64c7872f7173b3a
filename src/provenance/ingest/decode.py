"""Safe image decoding: every failure becomes a short skip reason, never an exception upward."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

# Pillow's own default; images larger than this are treated as decompression bombs.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


class SkipItem(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def decode_image(data: bytes | None = None, path: str | None = None, *, draft: int | None = None) -> Image.Image:
    """Open and fully decode an image to RGB, or raise :class:`SkipItem`.

    ``draft``: JPEGs may be decoded at 1/2, 1/4 or 1/8 scale (in the DCT, much faster) as long
    as both sides stay >= ``draft``; ``im.info["original_size"]`` then keeps the stored size.
    """
    try:
        if data is None:
            if path is None:
                raise SkipItem("no image data")
            with open(path, "rb") as f:
                data = f.read()
    except FileNotFoundError:
        raise SkipItem("missing file", str(path)) from None
    except PermissionError:
        raise SkipItem("unreadable file", "permission denied") from None
    except IsADirectoryError:
        raise SkipItem("unreadable file", "is a directory") from None
    except OSError as exc:
        raise SkipItem("unreadable file", str(exc)) from None
    if not data:
        raise SkipItem("empty image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise SkipItem("decompression bomb", f"{w}x{h} pixels exceeds the limit of {MAX_PIXELS}")
            if draft and im.format == "JPEG":
                im.draft("RGB", (draft, draft))
                im.info["original_size"] = (w, h)
            im.load()
            if im.mode != "RGB":
                im = _to_rgb(im)
            return im
    except SkipItem:
        raise
    except UnidentifiedImageError:
        raise SkipItem("not an image", "unrecognised image format") from None
    except Image.DecompressionBombError:
        raise SkipItem("decompression bomb", f"image header claims more than twice the limit of {MAX_PIXELS} pixels") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc)
        reason = "truncated image" if "truncat" in msg.lower() else "corrupt image"
        raise SkipItem(reason, msg[:200]) from None
    except Exception as exc:  # decoders raise odd types on hostile input
        raise SkipItem("corrupt image", f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im, mask=im.getchannel("A"))
        return bg
    return im.convert("RGB")
