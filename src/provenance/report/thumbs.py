"""Small embedded thumbnails and the only URLs a report may carry."""

from __future__ import annotations

import base64
import io
import os
from functools import lru_cache
from urllib.parse import urlsplit

from ..ingest.decode import SkipItem, decode_image

THUMB_SIDE = 160


def data_uri(path: str | os.PathLike | None, side: int = THUMB_SIDE) -> str | None:
    """A local image as a small base64 JPEG data URI, or None when it is not a readable local file."""
    if not path or not os.path.isfile(path):
        return None
    st = os.stat(path)
    return _data_uri(os.fspath(path), st.st_mtime_ns, st.st_size, side)


@lru_cache(maxsize=4096)
def _data_uri(path: str, mtime_ns: int, size: int, side: int) -> str | None:
    # Keyed by mtime and size too: a file changed between two reports is read again.
    try:
        im = decode_image(path=path)
    except SkipItem:
        return None
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=72)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_data_uri(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def safe_url(url: str | None) -> str | None:
    """``url`` if it is a plain http(s) URL with a host; anything else (javascript:, data:, junk) is dropped."""
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    if any(ord(ch) < 33 or ch in '"<>\\`' for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
