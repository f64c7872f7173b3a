"""Label a table of (url, caption[, watermark probability]) rows without an index: CSV / Parquet in and out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from ..errors import UsageError
from .classifier import SourceClassifier
from .taxonomy import Taxonomy

PARALLEL_MIN_ROWS = 200_000  # below this, starting worker processes costs more than it saves
CHUNK_ROWS = 50_000


def output_columns(classes: Iterable[str]) -> list[str]:
    return ["label", "label_confidence", "selfie", *[f"p_{c}" for c in classes], "evidence"]


def classify_rows(
    data: Any,
    url_col: str | None = "url",
    caption_col: str | None = "caption",
    watermark_col: str | None = "pwatermark",
    taxonomy: Taxonomy | str | os.PathLike | None = None,
    *,
    classifier: SourceClassifier | None = None,
    workers: int | None = None,
):
    """Label every row of ``data`` (a pyarrow Table, or a list of dicts).

    Returns a pyarrow Table: the input columns, then ``label``, ``label_confidence``,
    ``selfie``, one ``p_<class>`` per class and ``evidence`` (JSON). An input column
    that already has one of those names is kept as ``input_<name>``. ``url_col`` /
    ``caption_col`` / ``watermark_col`` name the columns to read (None: do not use);
    a missing watermark column is fine, a missing URL or caption column is an error
    unless the other one exists and the missing one was left at its default.
    ``workers`` processes share the work (default: one per CPU core for tables of
    200,000 rows or more, else one).
    """
    import pyarrow as pa

    table = data if isinstance(data, pa.Table) else pa.Table.from_pylist(list(data))
    clf = classifier or SourceClassifier(taxonomy if isinstance(taxonomy, Taxonomy) or taxonomy is None else str(taxonomy))
    names = table.column_names
    url_col = _check(names, url_col, "url", "--url-col")
    caption_col = _check(names, caption_col, "caption", "--caption-col")
    if url_col is None and caption_col is None:
        raise UsageError(f"no URL or caption column to classify: the input has columns {names}; "
                         "name them with --url-col / --caption-col")
    if watermark_col is not None and watermark_col not in names:
        if watermark_col != "pwatermark":
            raise UsageError(f"--watermark-col {watermark_col!r} is not a column of the input (columns: {names})")
        watermark_col = None
    urls = _strings(table, url_col)
    caps = _strings(table, caption_col)
    marks = table.column(watermark_col).to_pylist() if watermark_col else [None] * table.num_rows
    out_names = output_columns(clf.classes)
    n_workers = workers or (min(8, os.cpu_count() or 1) if table.num_rows >= PARALLEL_MIN_ROWS else 1)
    if n_workers > 1 and table.num_rows > CHUNK_ROWS:
        columns = _parallel(clf, urls, caps, marks, out_names, n_workers)
    else:
        columns = _columns(clf, urls, caps, marks, out_names)
    renamed = [f"input_{n}" if n in out_names else n for n in names]
    out = table.rename_columns(renamed)
    for n in out_names:
        out = out.append_column(n, pa.array(columns[n]))
    return out


def _columns(clf: SourceClassifier, urls, caps, marks, out_names: list[str]) -> dict[str, list]:
    values = clf.values  # in the order of output_columns
    rows = [values(u, c, {"pwatermark": w} if w is not None else None) for u, c, w in zip(urls, caps, marks)]
    if not rows:
        return {n: [] for n in out_names}
    return {n: list(col) for n, col in zip(out_names, zip(*rows))}  # one transpose, in C


def _worker_chunk(args) -> dict[str, list]:
    from .pool import worker

    urls, caps, marks, out_names = args
    return _columns(worker(), urls, caps, marks, out_names)


def _parallel(clf: SourceClassifier, urls, caps, marks, out_names: list[str], n_workers: int) -> dict[str, list]:
    from .pool import classifier_recipe, spawn_workers

    recipe = classifier_recipe(clf)  # workers rebuild the same taxonomy and model from their files
    if recipe is None:
        return _columns(clf, urls, caps, marks, out_names)
    chunks = [(urls[i:i + CHUNK_ROWS], caps[i:i + CHUNK_ROWS], marks[i:i + CHUNK_ROWS], out_names)
              for i in range(0, len(urls), CHUNK_ROWS)]
    columns: dict[str, list] = {n: [] for n in out_names}
    with spawn_workers(n_workers, recipe) as pool:
        for part in pool.map(_worker_chunk, chunks):
            for n in out_names:
                columns[n].extend(part[n])
    return columns


def _check(names: list[str], col: str | None, default: str, option: str) -> str | None:
    if col is None:
        return None
    if col in names:
        return col
    if col == default:
        return None
    raise UsageError(f"{option} {col!r} is not a column of the input (columns: {names})")


def _strings(table, col: str | None) -> list[str | None]:
    if col is None:
        return [None] * table.num_rows
    values = table.column(col).to_pylist()
    return [v if isinstance(v, str) or v is None else (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) for v in values]


def read_table(path: str | os.PathLike):
    """A CSV (.csv, .tsv) or Parquet (.parquet, .pq) file as a pyarrow Table; text columns stay text."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    p = Path(path)
    kind = _kind(p)
    if not p.exists():
        raise UsageError(f"input file {p} does not exist")
    try:
        if kind == "parquet":
            return pq.read_table(p)
        parse = pacsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",", newlines_in_values=True)
        # Read every column as text: URLs / captions that look like numbers must stay as written.
        head = pacsv.read_csv(p, parse_options=parse, read_options=pacsv.ReadOptions(block_size=1 << 20))
        convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in head.column_names}, strings_can_be_null=False)
        return pacsv.read_csv(p, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UsageError(f"cannot read {p} as {kind.upper()}: {str(exc).splitlines()[0][:300]}") from None


def write_table(table, path: str | os.PathLike) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from ..util.atomic import atomic_path

    p = Path(path)
    kind = _kind(p)
    if p.parent and not p.parent.exists():
        raise UsageError(f"output folder {p.parent} does not exist")
    with atomic_path(p) as tmp:
        if kind == "parquet":
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(table, tmp, write_options=pacsv.WriteOptions(delimiter="\t" if kind == "tsv" else ","))


def _kind(p: Path) -> str:
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    raise UsageError(f"{p}: use a .csv, .tsv or .parquet file (the format follows the extension)")
