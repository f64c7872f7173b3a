"""Precomputed embeddings in the LAION / clip-retrieval layout.

``ROOT/img_emb/img_emb_{i}.npy`` holds float vectors and ``ROOT/metadata/metadata_{i}.parquet``
the rows that go with them: file ``i`` with file ``i``, row ``r`` with row ``r``, exactly as
``clip-retrieval inference`` writes them (files ordered by their number ``i``).
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterator

import numpy as np

from ..errors import IngestError
from .items import Item, Skip, Unit, clean_caption, clean_text

CAPTION_COLS = ("caption", "TEXT", "text", "alt")
URL_COLS = ("url", "URL")
KEY_COLS = ("key", "image_path", "id")
ROWS_PER_READ = 65_536
_num = re.compile(r"(\d+)(?=\.[a-z]+$)")


def _number(name: str) -> int:
    m = _num.search(name)
    return int(m.group(1)) if m else -1


def looks_like_embeddings(root: str) -> bool:
    import fsspec

    fs, path = fsspec.core.url_to_fs(root)
    return fs.isdir(posixpath.join(path, "img_emb"))


class EmbeddingsSource:
    format = "embeddings"
    precomputed = True

    def __init__(self, root: str, dim: int | None = None):
        import fsspec

        self.root = root
        self.fs, self.path = fsspec.core.url_to_fs(root)
        self.text = root if "://" in root else self.fs._strip_protocol(self.path)
        self.dim = dim
        emb_dir = posixpath.join(self.path, "img_emb")
        meta_dir = posixpath.join(self.path, "metadata")
        if not self.fs.isdir(emb_dir):
            raise IngestError(f"{root} has no img_emb/ folder: expected the clip-retrieval layout img_emb/img_emb_N.npy + metadata/metadata_N.parquet")
        embs = sorted((p for p in self.fs.ls(emb_dir, detail=False) if p.endswith(".npy")), key=lambda p: (_number(p), p))
        metas = {}
        if self.fs.isdir(meta_dir):
            metas = {_number(p): p for p in self.fs.ls(meta_dir, detail=False) if p.endswith(".parquet")}
        if not embs:
            raise IngestError(f"{emb_dir} holds no .npy files")
        self.pairs = [(e, metas.get(_number(e))) for e in embs]
        self.orphan_metadata = sorted(set(metas) - {_number(e) for e in embs})

    def count_hint(self) -> int | None:
        total = 0
        for emb, _ in self.pairs:
            try:
                total += int(self._open_npy(emb).shape[0])
            except Exception:
                return None
        return total

    def _open_npy(self, path: str) -> np.ndarray:
        if self.fs.protocol in ("file", ("file", "local")) or "file" in np.atleast_1d(self.fs.protocol):
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with self.fs.open(path, "rb") as f:
            return np.load(f, allow_pickle=False)

    def units(self) -> Iterator[Unit]:
        for emb, meta in self.pairs:
            yield Unit(key=f"{self.text}|{posixpath.basename(emb)}", open=lambda e=emb, m=meta: self._items(e, m))
        for n in self.orphan_metadata:
            yield Unit(key=f"{self.text}|orphan-metadata-{n}", open=lambda n=n: iter([Skip(f"metadata_{n}.parquet", "metadata without embeddings file")]))

    def _items(self, emb_path: str, meta_path: str | None) -> Iterator[Item | Skip]:
        import pyarrow.parquet as pq

        name = posixpath.basename(emb_path)
        try:
            vecs = self._open_npy(emb_path)
        except (ValueError, OSError) as exc:
            yield Skip(name, "unreadable embeddings file", str(exc)[:200])
            return
        if vecs.ndim != 2 or not np.issubdtype(vecs.dtype, np.floating):
            yield Skip(name, "unreadable embeddings file", f"expected a 2-D float array, got shape {vecs.shape} dtype {vecs.dtype}")
            return
        if self.dim is not None and vecs.shape[1] != self.dim:
            raise IngestError(
                f"{name} holds {vecs.shape[1]}-dimensional vectors but encoder dimension is {self.dim}: "
                "pass the --encoder that produced these embeddings (LAION-400M: open_clip:ViT-B-32/openai, 512-d; "
                "LAION-5B: open_clip:ViT-L-14/openai, 768-d)"
            )
        n = vecs.shape[0]
        if meta_path is None:
            yield Skip(name, "embeddings without metadata file", f"no metadata_{_number(name)}.parquet", count=n)
            return
        try:
            pf = pq.ParquetFile(self.fs.open(meta_path, "rb"))
        except Exception as exc:
            yield Skip(posixpath.basename(meta_path), "unreadable metadata file", str(exc)[:200], count=n)
            return
        rows = pf.metadata.num_rows
        if rows != n:
            yield Skip(
                name,
                "row count mismatch",
                f"{name} has {n} vectors but {posixpath.basename(meta_path)} has {rows} rows; rows cannot be matched, file skipped",
                count=max(n, rows),
            )
            return
        cols = pf.schema_arrow.names
        cap_col = next((c for c in CAPTION_COLS if c in cols), None)
        url_col = next((c for c in URL_COLS if c in cols), None)
        key_col = next((c for c in KEY_COLS if c in cols), None)
        extra = [c for c in cols if c not in (cap_col, url_col, key_col)]
        row = 0
        for batch in pf.iter_batches(batch_size=ROWS_PER_READ):
            n_rows = batch.num_rows
            block = np.asarray(vecs[row : row + n_rows], dtype=np.float32)
            # Whole-block checks and normalisation: per-row numpy calls would cost more than the rest of ingest.
            finite = np.isfinite(block).all(axis=1)
            safe = block if finite.all() else np.where(finite[:, None], block, 0.0)
            norms = np.sqrt(np.einsum("ij,ij->i", safe, safe))  # 4x cheaper than np.linalg.norm(axis=1)
            unit = block / np.where(norms > 0, norms, 1.0)[:, None]
            columns = {c: batch.column(c).to_pylist() for c in batch.schema.names}
            keys = columns.get(key_col) if key_col else None
            urls = columns.get(url_col) if url_col else None
            caps = columns.get(cap_col) if cap_col else None
            extras = [(f"x_{c}", columns[c]) for c in extra]
            for j in range(n_rows):
                r = row + j
                if not finite[j]:
                    yield Skip(f"{name}#{r}", "non-finite vector", "NaN or infinite values")
                    continue
                if norms[j] == 0.0:
                    yield Skip(f"{name}#{r}", "zero vector")
                    continue
                key = keys[j] if keys is not None else None
                meta = {
                    "url": clean_text(urls[j], 8192) if urls is not None else None,
                    "caption": clean_caption(caps[j]) if caps is not None else None,
                    "shard": name,
                }
                for xname, values in extras:
                    v = values[j]
                    meta[xname] = clean_text(v, 2048) if isinstance(v, (str, bytes)) else v
                yield Item(key=f"{name}#{r}" if key in (None, "") else str(key), ref=f"{name}#{r}", meta=meta, vector=unit[j])
            row += n_rows
