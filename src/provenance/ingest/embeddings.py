"""Precomputed embeddings in the LAION / clip-retrieval layout.

``ROOT/img_emb/img_emb_{i}.npy`` holds float vectors and ``ROOT/metadata/metadata_{i}.parquet``
the rows that go with them: file ``i`` with file ``i``, row ``r`` with row ``r``, exactly as
``clip-retrieval inference`` writes them (files ordered by their number ``i``).
Rows are read and yielded a :class:`~.items.Block` at a time (metadata as Arrow columns,
vectors as one normalised float32 matrix), never as one Python object per row.
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import IngestError
from .items import MAX_CAPTION_CHARS, TRUNCATED, Block, Skip, Unit, clean_caption, clean_text

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

    def _items(self, emb_path: str, meta_path: str | None) -> Iterator[Block | Skip]:
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
            # One converting copy (LAION ships float16), normalised in place: whole-block numpy, since
            # per-row calls or extra passes over 128 MB blocks would cost more than the rest of ingest.
            block = np.array(vecs[row : row + n_rows], dtype=np.float32)
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))  # 4x cheaper than np.linalg.norm(axis=1)
            good = np.isfinite(norms) & (norms > 0)
            if not good.all():
                # NaN / inf entries, zero vectors, or values so large their squares overflow float32
                finite = np.isfinite(block).all(axis=1)
                safe = np.where(finite[:, None], block, 0.0).astype(np.float64)
                norms = np.sqrt(np.einsum("ij,ij->i", safe, safe))
                good = finite & (norms > 0)
                for j in np.flatnonzero(~good).tolist():
                    if not finite[j]:
                        yield Skip(f"{name}#{row + j}", "non-finite vector", "NaN or infinite values")
                    else:
                        yield Skip(f"{name}#{row + j}", "zero vector")
                block = (safe / np.where(good, norms, 1.0)[:, None]).astype(np.float32)
            else:
                np.divide(block, norms[:, None], out=block)
            columns = {
                "url": _text_column(batch.column(url_col), 8192) if url_col else _nulls(n_rows),
                "caption": _text_column(batch.column(cap_col), MAX_CAPTION_CHARS, TRUNCATED) if cap_col else _nulls(n_rows),
                "shard": pa.array([name] * n_rows, pa.string()),
            }
            for c in extra:
                columns[f"x_{c}"] = _extra_column(batch.column(c))
            keys = _keys(batch.column(key_col) if key_col else None, name, row, n_rows)
            table = pa.table(columns)
            rows = np.arange(row, row + n_rows, dtype=np.int64)
            out = Block(keys, block, table, name, rows)
            if not good.all():
                out = out.take(np.flatnonzero(good))
            if len(out):
                yield out
            row += n_rows


def _nulls(n: int):
    return pa.nulls(n, pa.string())


def _text_column(arr, limit: int, mark: str = ""):
    """Text cut to ``limit`` characters (``mark`` appended where cut), as :func:`clean_text` and
    :func:`clean_caption` cut one value, but on the whole column in Arrow."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        # bytes (decoded leniently), numbers, ...: one value at a time, as for a single item
        clean = clean_caption if mark else (lambda v: clean_text(v, limit))
        return pa.array([clean(v) for v in arr.to_pylist()], pa.string())
    arr = arr.cast(pa.string())
    if len(arr) == arr.null_count:
        return arr
    lengths = pc.utf8_length(arr)
    if pc.max(lengths).as_py() <= limit:
        return arr
    cut = pc.utf8_slice_codeunits(arr, 0, limit)
    if mark:
        cut = pc.binary_join_element_wise(cut, pa.scalar(mark), "")
    return pc.if_else(pc.greater(lengths, limit), cut, arr)


def _extra_column(arr):
    """Extra metadata columns keep their Arrow type; text in them is cut to 2,048 characters."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return _text_column(arr, 2048)
    return arr


def _keys(arr, name: str, first_row: int, n: int) -> list[str]:
    """Item keys: the key column's text, or ``file#row`` where it is missing or empty."""
    if arr is None:
        return [f"{name}#{first_row + j}" for j in range(n)]
    values = arr.to_pylist()
    if (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) and arr.null_count == 0 \
            and not pc.any(pc.equal(arr, "")).as_py():
        return values
    return [f"{name}#{first_row + j}" if v is None or v == "" else str(v) for j, v in enumerate(values)]
