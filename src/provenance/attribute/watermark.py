"""Visible stock-agency watermarks, read with RapidOCR (ONNX models shipped inside its wheel: offline).

A stock preview carries the agency's name across the picture ("shutterstock",
"gettyimages", "iStock", "alamy", ...). A generated image that reproduces such a
mark is direct evidence that stock previews were in its training data. OCR text
is compared with the taxonomy's watermark names letters-and-digits only, allowing
one or two OCR slips in longer names ("shutterstck").
"""

from __future__ import annotations

import threading
from difflib import SequenceMatcher
from typing import Any, Mapping

import numpy as np

from .taxonomy import compact

MAX_SIDE = 960  # larger images are reduced first: watermarks are big, and OCR time grows with pixels
MIN_CONFIDENCE = 0.5
DET_SIDE = 736  # long side the text detector works at (watermarks span a good part of the picture)

_local = threading.local()
_load_lock = threading.Lock()


def _engine():
    eng = getattr(_local, "ocr", None)
    if eng is None:
        import logging

        # Loading is serialised: first imports of rapidocr / onnxruntime racing in decode threads are not safe.
        with _load_lock:
            from .faces import import_cv2

            import_cv2()  # rapidocr imports cv2: let it find OpenCV whole, whatever other threads do
            from rapidocr_onnxruntime import RapidOCR

            # One engine per thread (ONNX sessions are not shared across decode threads); single-threaded
            # sessions, because the decode pool already runs one image per core.
            # Text detection at most DET_SIDE on the long side: RapidOCR's default *upscales* the short
            # side to 736, which made OCR 2.6x slower on typical generations without finding more marks.
            eng = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1, use_cls=False,
                           det_limit_side_len=DET_SIDE, det_limit_type="max")
            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        _local.ocr = eng
    return eng


def read_text(im) -> list[tuple[str, float]]:
    """Text lines OCR finds in a PIL image, with their confidences."""
    rgb = im.convert("RGB")
    w, h = rgb.size
    scale = MAX_SIDE / max(w, h)
    if scale < 1:
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))))
    arr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])  # RapidOCR expects OpenCV's BGR order
    result, _ = _engine()(arr)
    return [(str(line[1]), float(line[2])) for line in (result or [])]


def match_watermark(lines: list[tuple[str, float]], names: Mapping[str, Any]) -> dict[str, Any] | None:
    """The best watermark name (a key of ``names``, compacted) found in OCR ``lines``, or None."""
    best = None
    for text, conf in lines:
        if conf < MIN_CONFIDENCE:
            continue
        flat = compact(text)
        if not flat:
            continue
        for name in names:
            score = _similarity(name, flat)
            if score and (best is None or (score, conf) > (best["score"], best["confidence"])):
                best = {"name": name, "text": text[:80], "confidence": round(conf, 3), "score": round(score, 3)}
    return best


def _similarity(name: str, text: str) -> float:
    """1.0 when ``name`` occurs in ``text``; for names of 8+ characters, the best fuzzy window match >= 0.85."""
    if name in text:
        return 1.0
    n = len(name)
    if n < 8 or len(text) < n - 2:
        return 0.0
    best = 0.0
    for size in (n - 1, n, n + 1):
        for i in range(0, max(1, len(text) - size + 1)):
            r = SequenceMatcher(None, name, text[i:i + size]).ratio()
            if r > best:
                best = r
    return best if best >= 0.85 else 0.0


def watermark_signals(im, names: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata fields: ``img_watermark`` (the matched name or None) and the OCR line that matched."""
    found = match_watermark(read_text(im), names)
    if not found:
        return {"img_watermark": None}
    return {"img_watermark": found["name"], "img_watermark_text": found["text"], "img_watermark_conf": found["confidence"]}
