"""The face cue: frontal faces found by OpenCV's bundled Haar cascade, and selfie-like framing.

A selfie taken at arm's length shows one large, roughly central, near-frontal face.
The frontal-face cascade only fires on near-frontal faces; the image is reduced to
``SIDE`` pixels first, so a face must cover about a sixth of the short side to be
seen at all, which is what the selfie cue needs and keeps the cost at a few ms.
This is a hint toward ``personal``, never proof: studio portraits share the framing.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

SIDE = 192  # long side the image is reduced to before detection
MIN_FACE = 0.15  # smallest face searched, as a fraction of the short side
SELFIE_MIN_WIDTH = 0.25  # a selfie face spans at least this fraction of the image width (or short side)
SELFIE_CENTER_X = (0.25, 0.75)
SELFIE_CENTER_Y = (0.15, 0.75)
CASCADE = "haarcascade_frontalface_default.xml"

_local = threading.local()
_import_lock = threading.Lock()
_cascade_path: str | None = None


def import_cv2():
    """``cv2``, imported whole exactly once. OpenCV's package replaces itself with its native module
    while it loads, so a thread importing it (or ``cv2.data``, or rapidocr, which imports it) at the
    same moment as another can see a half-initialised module: every first import goes through here."""
    global _cascade_path
    with _import_lock:
        import cv2

        if _cascade_path is None:
            import cv2.data

            _cascade_path = cv2.data.haarcascades + CASCADE
        return cv2


def cascade_path() -> str:
    """The bundled face cascade file."""
    import_cv2()
    assert _cascade_path is not None
    return _cascade_path


def _cascade():
    c = getattr(_local, "cascade", None)
    if c is None:
        path = cascade_path()
        c = import_cv2().CascadeClassifier(path)
        if c.empty():
            raise RuntimeError(f"OpenCV could not load its face cascade {path}")
        _local.cascade = c  # one per thread: CascadeClassifier objects are not shared safely
    return c


def detect_faces(im) -> tuple[list[tuple[float, float, float, float]], tuple[int, int]]:
    """Frontal faces in a PIL image as (x, y, w, h) fractions of the image size, largest first."""
    cv2 = import_cv2()
    gray = np.asarray(im.convert("L"))
    h, w = gray.shape
    if min(h, w) < 24:
        return [], (w, h)
    scale = SIDE / max(h, w)
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    gh, gw = gray.shape
    min_side = max(20, int(MIN_FACE * min(gh, gw)))
    boxes = _cascade().detectMultiScale(gray, scaleFactor=1.2, minNeighbors=4, minSize=(min_side, min_side))
    faces = [(float(x) / gw, float(y) / gh, float(bw) / gw, float(bh) / gh) for x, y, bw, bh in (boxes if len(boxes) else [])]
    faces.sort(key=lambda f: -f[2] * f[3])
    return faces, (w, h)


def selfie_framing(faces: list[tuple[float, float, float, float]], size: tuple[int, int]) -> bool:
    """One dominant, large, central face: the arm's-length framing of a selfie."""
    if not faces:
        return False
    x, y, fw, fh = faces[0]
    dominant = all(f[2] < 0.5 * fw for f in faces[1:])
    w, h = size
    width_frac = fw * w / min(w, h)  # portrait and landscape crops alike: relative to the short side
    cx, cy = x + fw / 2, y + fh / 2
    return bool(dominant and min(fw, width_frac) >= SELFIE_MIN_WIDTH
                and SELFIE_CENTER_X[0] <= cx <= SELFIE_CENTER_X[1] and SELFIE_CENTER_Y[0] <= cy <= SELFIE_CENTER_Y[1])


def face_signals(im) -> dict[str, Any]:
    """Metadata fields for one image: ``img_faces``, ``img_face_frac`` (largest face's share of the area),
    ``img_selfie_framing``."""
    faces, size = detect_faces(im)
    return {
        "img_faces": len(faces),
        "img_face_frac": round(faces[0][2] * faces[0][3], 4) if faces else 0.0,
        "img_selfie_framing": selfie_framing(faces, size),
    }
