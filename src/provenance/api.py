"""The library's front door: :func:`build_index` with the same defaults as ``provenance index``."""

from __future__ import annotations

import os
from typing import Any, Sequence


def build_index(index: str | os.PathLike, sources: str | os.PathLike | Sequence[str | os.PathLike], options=None, *,
                attribution: bool = True, taxonomy: str | os.PathLike | None = None, faces: bool = True, ocr: bool = False,
                zero_shot: bool | None = None, label_workers: int | None = None, **kwargs: Any):
    """Build, resume or extend an index, labelling every item's likely source as ``provenance index`` does.

    ``attribution=False`` stores no source labels (trace then labels neighbours from their URL
    and caption). ``taxonomy``, ``faces``, ``ocr``, ``zero_shot`` and ``label_workers`` are the
    CLI's ``--taxonomy``, ``--faces``, ``--ocr``, ``--zero-shot`` and ``--label-workers``; other
    keyword arguments are fields of :class:`provenance.index.BuildOptions` (``encoder``, ``fmt``,
    ``append``, ``commit_every``, ...). Large builds start helper processes for labelling: in a
    script, call this under ``if __name__ == "__main__":`` (or pass ``label_workers=0``).
    """
    from .index import build_index as build

    if attribution and "labeler" not in kwargs:
        from .attribute.hooks import build_hooks

        for name, hook in build_hooks(taxonomy=taxonomy, faces=faces, ocr=ocr, zero_shot=zero_shot,
                                      workers=label_workers).items():
            kwargs.setdefault(name, hook)
    return build(index, sources, options, **kwargs)
