"""Metadata lookups by id: an uncompressed Arrow IPC copy of each part, memory-mapped.

Parquet (the part's interchange copy, read by pandas, DuckDB, ...) can only be read a row group
at a time: the neighbours of 100 traced images scatter over almost every row group of a 1M-row
index, so each lookup decompressed nearly all metadata (~2 s). In the IPC copy a row is a few
offsets into a memory map; a lookup touches only the pages of the rows it returns. It costs
disk only (about the uncompressed size of the metadata, small next to the float32 vectors), and
indexes built before it existed keep using Parquet row groups.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np


def write_lookup(table, path: str | os.PathLike, batch_rows: int = 65_536) -> None:
    import pyarrow as pa

    with pa.OSFile(os.fspath(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=batch_rows)


def open_lookup(path: str | os.PathLike):
    """The part's metadata as a zero-copy Arrow table over a memory map."""
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(os.fspath(path), "r")).read_all()


def int64_array(values: Sequence[int]):
    """An Arrow int64 array built from a numpy buffer: ``take(list)`` and ``pa.array(...)`` import
    pandas on first use (~0.3 s of a one-image trace) to check whether their input is a Series."""
    import pyarrow as pa

    a = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(a), [None, pa.py_buffer(a)])
