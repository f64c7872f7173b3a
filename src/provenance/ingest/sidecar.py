"""Caption / URL / extra fields from the text and JSON that accompany an image."""

from __future__ import annotations

import json
from typing import Any

from .items import clean_caption, clean_text

CAPTION_KEYS = ("caption", "text", "TEXT", "alt", "alt_text", "title")
URL_KEYS = ("url", "URL", "source_url", "image_url")
SKIP_JSON_KEYS = {"key", "id"}


def meta_from_sidecars(txt: bytes | str | None, js: bytes | str | None) -> tuple[dict[str, Any], str | None]:
    """Returns (meta, problem): problem describes unreadable JSON, which is kept out but reported."""
    meta: dict[str, Any] = {}
    problem = None
    if js is not None:
        try:
            data = json.loads(js if isinstance(js, str) else js.decode("utf-8", errors="replace"))
        except ValueError as exc:
            data, problem = None, f"sidecar JSON unreadable ({exc.__class__.__name__})"
        if isinstance(data, dict):
            for k in CAPTION_KEYS:
                if data.get(k):
                    meta["caption"] = clean_caption(data[k])
                    break
            for k in URL_KEYS:
                if data.get(k):
                    meta["url"] = clean_text(data[k], 8192)
                    break
            for k in ("width", "height"):
                if isinstance(data.get(k), (int, float)) and data[k] == data[k]:
                    meta[f"orig_{k}"] = int(data[k])
            for k, v in data.items():
                if k in CAPTION_KEYS or k in URL_KEYS or k in SKIP_JSON_KEYS or k in ("width", "height"):
                    continue
                if isinstance(v, (str, int, float, bool)) or v is None:
                    meta[f"x_{k}"] = clean_text(v, 2048) if isinstance(v, str) else v
    if txt is not None:
        meta["caption"] = clean_caption(txt.strip() if isinstance(txt, str) else txt.strip())
    return meta, problem
