"""Decode + preprocess on a thread pool while the model runs; order is preserved.

Pillow's decoders and resizers release the GIL, and so does torch's forward, so
threads keep the model fed without the copying cost of worker processes. On a
CPU the decoders share the cores with the model, so the per-image work is kept
small (see :mod:`.preprocess`): JPEGs decode at reduced DCT scale, workers hand
over uint8 pixels, and normalisation happens once per batch.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..ingest.decode import SkipItem, decode_image
from ..ingest.items import Item, Skip
from .preprocess import FastPreprocess, prepare_one, to_batch

Analyzer = Callable[[Any], dict]  # PIL image -> extra metadata (e.g. face / watermark evidence)


def default_workers() -> int:
    return max(2, min(8, (os.cpu_count() or 2)))


def _decode_thread_setup() -> None:
    """With ``PROVENANCE_DECODE_PRIORITY=idle`` (Linux), decode threads run only on cores the
    model leaves free.

    The model's OpenMP threads meet at a barrier after every operation, so a decoder that
    pre-empts one of them stalls all of them. Idle-priority decoders avoid that (measured on
    2 cores, bf16 ViT-B-32: pipeline 78-83% of the bare forward instead of 73-76%), but on a
    machine busy with other work they get no CPU at all and the build waits, hence opt-in.
    """
    if os.environ.get("PROVENANCE_DECODE_PRIORITY", "normal") == "idle" and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # this thread only
        except OSError:
            pass


def _prepare(item: Item, preprocess: Callable, fast: FastPreprocess | None, analyze: Analyzer | None):
    # Analysers (faces, watermark OCR) need full resolution; plain embedding does not.
    draft = fast.draft if (fast is not None and analyze is None) else None
    try:
        im = decode_image(item.image_bytes, item.image_path, draft=draft)
    except SkipItem as s:
        return Skip(item.ref, s.reason, s.detail)
    item.meta["width"], item.meta["height"] = im.info.get("original_size", im.size)
    if analyze is not None:
        try:
            item.meta.update(analyze(im))
        except Exception as exc:  # an analyser failure must not lose the item
            item.meta["ingest_note"] = f"image analysis failed: {type(exc).__name__}"
    try:
        pixels = prepare_one(im, fast, preprocess)
    except Exception as exc:
        return Skip(item.ref, "corrupt image", f"preprocessing failed: {type(exc).__name__}: {str(exc)[:120]}")
    item.image_bytes = None  # free the encoded bytes early
    return item, pixels


def embed_items(
    items: Iterable[Item | Skip],
    encoder,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    analyze: Analyzer | None = None,
) -> Iterator[tuple[Item, np.ndarray] | Skip]:
    """Yield ``(item, vector)`` for every decodable image and :class:`Skip` for the rest, in input order."""
    workers = workers or default_workers()
    fast = encoder.fast
    preprocess = getattr(encoder, "preprocess", None)  # the model's own transform, where there is no fast one
    window = batch_size * 3
    pending: deque[Future | Skip] = deque()
    batch: list[tuple[Item, Any]] = []
    held: list = []  # results (skips) that must come out after the current batch, keeping order

    def flush():
        if not batch:
            return []
        vecs = encoder.embed_pixels(to_batch([p for _, p in batch], fast))
        out = [(it, v) for (it, _), v in zip(batch, vecs)]
        batch.clear()
        return out

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode", initializer=_decode_thread_setup) as pool:
        it = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                nxt = next(it, None)
                if nxt is None:
                    exhausted = True
                    break
                pending.append(nxt if isinstance(nxt, Skip) else pool.submit(_prepare, nxt, preprocess, fast, analyze))
            if not pending:
                break
            head = pending.popleft()
            result = head if isinstance(head, Skip) else head.result()
            if isinstance(result, Skip):
                if batch:
                    held.append(result)  # emit after the batch it sits behind
                else:
                    yield result
                continue
            batch.append(result)
            if len(batch) >= batch_size:
                yield from flush()
                yield from held
                held.clear()
        yield from flush()
        yield from held
