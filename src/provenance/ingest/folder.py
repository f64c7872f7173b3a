"""A folder of images, recursive; captions and URLs from sidecar .txt / .json files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from ..errors import IngestError
from .items import Item, Skip, Unit
from .sidecar import meta_from_sidecars

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
SIDECAR_EXTS = {".txt", ".json"}
IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
CHUNK = 4096  # files per resumable unit


class FolderSource:
    format = "images"
    precomputed = False

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise IngestError(f"image folder {self.root} does not exist or is not a directory")
        self.text = str(self.root.resolve())
        self._files: list[Path] | None = None
        # provenance index directories inside the folder (e.g. ./indexes when indexing "."): not input
        self.index_dirs: list[Path] = []

    def _listing(self) -> list[Path]:
        if self._files is None:
            files = []
            for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
                keep = []
                for d in sorted(d for d in dirnames if not d.startswith(".")):
                    if _is_index_dir(Path(dirpath) / d):
                        self.index_dirs.append(Path(dirpath) / d)
                    else:
                        keep.append(d)
                dirnames[:] = keep
                files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
            self._files = files
        return self._files

    def count_hint(self) -> int:
        return sum(1 for p in self._listing() if p.suffix.lower() in IMAGE_EXTS)

    def units(self) -> Iterator[Unit]:
        files = self._listing()
        sidecars = {p.with_suffix("").as_posix() + p.suffix.lower(): p for p in files if p.suffix.lower() in SIDECAR_EXTS}
        entries = [p for p in files if p.suffix.lower() not in SIDECAR_EXTS and p.name not in IGNORED_NAMES]
        claimed = set()
        for p in entries:
            if p.suffix.lower() in IMAGE_EXTS:
                stem = p.with_suffix("").as_posix()
                claimed.update(k for k in (stem + ".txt", stem + ".json") if k in sidecars)
        orphans = [p for k, p in sidecars.items() if k not in claimed]
        for start in range(0, max(len(entries), 1), CHUNK):
            chunk = entries[start : start + CHUNK]
            last = start + CHUNK >= len(entries)
            yield Unit(
                key=f"files {start}-{start + len(chunk)}",
                open=lambda chunk=chunk, last=last: self._items(chunk, sidecars, orphans if last else [], last),
                size_hint=len(chunk),
            )

    def _items(self, chunk: list[Path], sidecars: dict[str, Path], orphans: list[Path], last: bool = False) -> Iterator[Item | Skip]:
        for p in chunk:
            if p.suffix.lower() not in IMAGE_EXTS:
                yield Skip(str(p), "not an image file", f"extension {p.suffix or '(none)'}")
                continue
            stem = p.with_suffix("").as_posix()
            txt = _read(sidecars.get(stem + ".txt"))
            js = _read(sidecars.get(stem + ".json"))
            meta, problem = meta_from_sidecars(txt, js)
            if problem:
                meta["ingest_note"] = problem
            meta["shard"] = str(p.parent.relative_to(self.root).as_posix())
            # Absolute paths as keys: appending another folder with the same file names adds, not skips.
            yield Item(key=str(p.resolve()), ref=str(p), meta=meta, image_path=str(p))
        for p in orphans:
            yield Skip(str(p), "sidecar without image")
        if last:
            for d in self.index_dirs:
                yield Skip(str(d), "provenance index directory", "an index's own files are not input; its folder was not read")


def _is_index_dir(path: Path) -> bool:
    """A provenance index directory: a journal, a provenance manifest, or the write lock a build in
    progress holds (JSON naming its process)."""
    from ..index.layout import FORMAT, JOURNAL, LOCK, MANIFEST

    if (path / JOURNAL).is_file():
        return True
    for name, marker in ((MANIFEST, FORMAT), (LOCK, '"pid"')):
        f = path / name
        if f.is_file():
            try:
                if f.stat().st_size < 1_000_000 and marker in f.read_text(errors="replace"):
                    return True
            except OSError:
                pass
    return False


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None
