"""WebDataset / img2dataset shards: tar files of ``KEY.jpg`` + ``KEY.txt`` + ``KEY.json`` members.

Shards are read as streams through fsspec, so local paths, brace patterns
(``shards/{00000..00099}.tar``) and remote URLs (``s3://``, ``https://``) work alike.
Members are validated one by one; a broken member or a truncated tar skips what it
must and keeps everything before it.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from typing import Iterator

from ..errors import IngestError
from .folder import IMAGE_EXTS
from .items import Item, Skip, Unit
from .sidecar import meta_from_sidecars

IMAGE_MEMBER_EXTS = {e.lstrip(".") for e in IMAGE_EXTS}
TEXT_MEMBER_EXTS = {"txt", "json", "caption", "cls", "url"}
MAX_MEMBER_BYTES = 256 * 1024 * 1024


def expand_shards(pattern: str) -> list[str]:
    from webdataset.shardlists import expand_urls

    urls: list[str] = []
    for part in expand_urls(pattern):
        if "://" not in part and os.path.isdir(part):
            urls.extend(sorted(os.path.join(part, f) for f in os.listdir(part) if f.endswith(".tar")))
        elif "://" not in part and any(ch in part for ch in "*?["):
            import glob

            urls.extend(sorted(glob.glob(part)))
        else:
            urls.append(part)
    return urls


class WebDatasetSource:
    format = "webdataset"
    precomputed = False

    def __init__(self, pattern: str):
        self.text = pattern if "://" in pattern else _abs_pattern(pattern)
        self.shards = expand_shards(pattern)
        if not self.shards:
            raise IngestError(f"no .tar shards found for {pattern!r}: give a .tar file, a folder of them, or a brace pattern like 'shards/{{00000..00009}}.tar'")

    def count_hint(self) -> int | None:
        return None

    def units(self) -> Iterator[Unit]:
        for url in self.shards:
            yield Unit(key=url if "://" in url else os.path.abspath(url), open=lambda url=url: self._items(url))

    def _items(self, url: str) -> Iterator[Item | Skip]:
        import fsspec

        shard = posixpath.basename(url)
        try:
            f = fsspec.open(url, "rb").open()
        except FileNotFoundError:
            yield Skip(url, "missing shard", "file not found")
            return
        except Exception as exc:
            yield Skip(url, "unreadable shard", f"{type(exc).__name__}: {str(exc)[:200]}")
            return
        group: dict[str, bytes] = {}
        current = None
        try:
            with f:
                try:
                    stream = tarfile.open(fileobj=f, mode="r|*")
                except tarfile.TarError as exc:
                    yield Skip(url, "unreadable shard", f"not a tar archive ({exc})")
                    return
                try:
                    for info in stream:
                        name = info.name
                        if not info.isreg():
                            continue
                        if name.startswith("/") or ".." in name.split("/") or "\x00" in name:
                            yield Skip(f"{shard}:{name}", "unsafe tar member path")
                            continue
                        if info.size > MAX_MEMBER_BYTES:
                            yield Skip(f"{shard}:{name}", "tar member too large", f"{info.size} bytes")
                            continue
                        key, ext = _split(name)
                        if key is None:
                            yield Skip(f"{shard}:{name}", "tar member without key.extension name")
                            continue
                        if key != current:
                            if current is not None:
                                yield from self._emit(shard, url, current, group)
                            current, group = key, {}
                        data = stream.extractfile(info).read()
                        group[ext.lower()] = data
                        stream.members = []  # streaming: do not keep every TarInfo
                except (tarfile.TarError, EOFError, OSError) as exc:
                    if current is not None:
                        yield from self._emit(shard, url, current, group)
                        current = None
                    yield Skip(url, "truncated tar", f"stopped reading after an error: {exc}")
                    return
        except OSError as exc:
            yield Skip(url, "unreadable shard", str(exc)[:200])
            return
        if current is not None:
            yield from self._emit(shard, url, current, group)

    def _emit(self, shard: str, url: str, key: str, group: dict[str, bytes]) -> Iterator[Item | Skip]:
        image_ext = next((e for e in group if e in IMAGE_MEMBER_EXTS), None)
        ref = f"{shard}:{key}"
        if image_ext is None:
            if group.keys() & TEXT_MEMBER_EXTS or group:
                yield Skip(ref, "no image in sample", f"members: {', '.join(sorted(group))}")
            return
        meta, problem = meta_from_sidecars(group.get("txt") or group.get("caption"), group.get("json"))
        if problem:
            meta["ingest_note"] = problem
        if "url" not in meta and group.get("url"):
            meta["url"] = group["url"].decode("utf-8", errors="replace").strip()
        meta["shard"] = shard
        yield Item(key=f"{shard}:{key}", ref=ref, meta=meta, image_bytes=group[image_ext])


def _split(name: str) -> tuple[str | None, str]:
    from webdataset.tariterators import base_plus_ext

    key, ext = base_plus_ext(name)
    return key, ext or ""


def _abs_pattern(pattern: str) -> str:
    return pattern if os.path.isabs(pattern) else os.path.join(os.getcwd(), pattern)
