"""Where indexes live and how an index argument (name or path) is resolved."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import IndexNotFound, UsageError

MANIFEST = "manifest.json"


def indexes_home() -> Path:
    """``$PROVENANCE_INDEXES`` when set, else ``./indexes``."""
    env = os.environ.get("PROVENANCE_INDEXES")
    return Path(env) if env else Path("indexes")


def _looks_like_path(ref: str) -> bool:
    return os.sep in ref or "/" in ref or ref.startswith(".") or ref.endswith(os.sep)


def index_dir_for(ref: str | os.PathLike) -> Path:
    """The directory an index reference names, whether or not it exists yet.

    A bare name (``laion-people``) lives under :func:`indexes_home`; anything that
    looks like a path is taken as one.
    """
    ref = os.fspath(ref)
    if not ref or ref.strip() != ref:
        raise UsageError(f"invalid index name {ref!r}: use a plain name like 'my-index' or a directory path")
    if _looks_like_path(ref) or Path(ref).is_absolute():
        return Path(ref)
    return indexes_home() / ref


def list_indexes(home: Path | None = None) -> list[str]:
    home = home or indexes_home()
    if not home.is_dir():
        return []
    return sorted(p.name for p in home.iterdir() if (p / MANIFEST).is_file())


def resolve_existing_index(ref: str | os.PathLike | None) -> Path:
    """The directory of an existing, committed index.

    With no reference, ``$PROVENANCE_INDEX`` is used, else the only index under
    the indexes home; anything else is a usage error that lists what exists.
    """
    if ref is None:
        ref = os.environ.get("PROVENANCE_INDEX")
    if ref is None:
        names = list_indexes()
        if len(names) == 1:
            return indexes_home() / names[0]
        where = indexes_home()
        if not names:
            raise IndexNotFound(
                f"no index found under {where}/: build one with `provenance index NAME --from SOURCE` "
                "(or `provenance demo`), or pass --index PATH"
            )
        raise UsageError(f"several indexes under {where}/ ({', '.join(names)}): choose one with --index NAME")
    path = index_dir_for(ref)
    if not (path / MANIFEST).is_file():
        names = list_indexes()
        hint = f" Known indexes: {', '.join(names)}." if names else ""
        if path.is_dir() and any(path.iterdir()):
            raise IndexNotFound(
                f"index {os.fspath(ref)!r} at {path} has no committed build (no {MANIFEST}); "
                f"re-run its `provenance index` command to resume it.{hint}"
            )
        raise IndexNotFound(
            f"unknown index {os.fspath(ref)!r} (looked for {path / MANIFEST}). "
            f"Build it with `provenance index {os.fspath(ref)} --from SOURCE`.{hint}"
        )
    return path
