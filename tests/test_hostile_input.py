"""Hostile and broken input: each is skipped or refused with a reason and counted, never a crash or a silent drop."""

import io
import json
import struct
import tarfile
import zlib

import numpy as np
import pytest
from helpers import add_tar_member, write_clip_retrieval
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import provenance
from provenance.ingest.decode import MAX_PIXELS, SkipItem, decode_image
from provenance.ingest.items import MAX_CAPTION_CHARS, Item, Skip
from provenance.ingest.sidecar import meta_from_sidecars
from provenance.ingest.webdataset_source import WebDatasetSource


def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A valid PNG header claiming 1.6 gigapixels with a few hundred bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 40_000])  # above Pillow's warning limit, and above its error limit
def test_decompression_bomb_is_skipped_before_decoding(side):
    with pytest.raises(SkipItem) as e:
        decode_image(png_bomb(side, side))
    assert e.value.reason == "decompression bomb" and str(MAX_PIXELS) in e.value.detail


def test_hostile_folder_is_indexed_with_every_skip_counted(cli_run, tmp_path, photos):
    root = tmp_path / "hostile"
    root.mkdir()
    (root / "bomb.png").write_bytes(png_bomb())
    photos["coins"].save(root / "ok.jpg")
    photos["rocket"].save(root / "latin1.jpg")
    (root / "latin1.txt").write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e".encode("latin-1"))  # not UTF-8
    photos["horse"].save(root / "huge-caption.jpg")
    (root / "huge-caption.txt").write_text("spam " * 1_000_000)
    photos["moon"].save(root / "badjson.jpg")
    (root / "badjson.json").write_bytes(b'{"caption": "unterminated')
    (root / "orphan.txt").write_text("a caption whose image is missing")
    r = cli_run("index", "h", "--from", root, "--encoder", "tiny", "--json", "--no-progress")
    rep = json.loads(r.stdout)
    assert rep["count"] == 4
    assert rep["skip_reasons"] == {"decompression bomb": 1, "sidecar without image": 1}
    rows = {row["key"].rsplit("/", 1)[-1]: row for row in provenance.open_index("h").metadata().to_pylist()}
    assert rows["latin1.jpg"]["caption"].startswith("caf\ufffd cr")  # decoded with replacement, kept
    assert len(rows["huge-caption.jpg"]["caption"]) == MAX_CAPTION_CHARS + len(" [truncated]")
    assert rows["badjson.jpg"]["ingest_note"].startswith("sidecar JSON unreadable")


def test_nan_and_infinite_vectors_are_skipped(cli_run, tmp_path):
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(6, 256)).astype(np.float32)
    vecs[1, 3] = np.nan
    vecs[4, 0] = np.inf
    vecs[5] = 0.0
    rows = [{"url": f"https://example.org/{i}.jpg", "caption": f"item {i}"} for i in range(6)]
    root = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=6)
    rep = json.loads(cli_run("index", "e", "--from", root, "--encoder", "tiny", "--json").stdout)
    assert rep["skip_reasons"] == {"non-finite vector": 2, "zero vector": 1}
    assert rep["count"] == 3
    assert np.isfinite(provenance.open_index("e").vectors()).all()


def test_pickled_npy_is_refused(cli_run, tmp_path):
    root = tmp_path / "emb"
    (root / "img_emb").mkdir(parents=True)
    (root / "metadata").mkdir()
    np.save(root / "img_emb" / "img_emb_0.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"url": ["https://x.org/a.jpg"]}), root / "metadata" / "metadata_0.parquet")
    r = cli_run("index", "e", "--from", root, "--encoder", "tiny", expect=1)
    assert "all 1 input(s) skipped" in r.stderr and "unreadable embeddings file" in r.stderr


# -- property-based: the parsers take any bytes without raising --------------------------------

@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.binary(max_size=300)), st.one_of(st.none(), st.binary(max_size=300), st.text(max_size=300)))
def test_sidecar_parser_takes_anything(txt, js):
    meta, problem = meta_from_sidecars(txt, js)
    assert isinstance(meta, dict)
    assert problem is None or "unreadable" in problem
    for v in meta.values():
        assert v is None or isinstance(v, (str, int, float, bool))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_image_decoder_takes_anything(data):
    try:
        im = decode_image(data)
    except SkipItem as s:
        assert s.reason in {"empty image file", "not an image", "corrupt image", "truncated image", "decompression bomb"}
    else:
        assert im.mode == "RGB"


member_names = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40),
    st.sampled_from(["/abs.jpg", "../x.jpg", "a/../../b.jpg", "k.jpg", "k.txt", "k.json", "noext", ".hidden.jpg", "d/k.png"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(members=st.lists(st.tuples(member_names, st.binary(max_size=200)), max_size=8), cut=st.integers(0, 100))
def test_tar_reader_takes_anything(tmp_path_factory, members, cut):
    d = tmp_path_factory.mktemp("tar")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            add_tar_member(tar, name, data)
    data = buf.getvalue()
    (d / "s.tar").write_bytes(data[: max(0, len(data) * cut // 100)] if cut < 100 else data)
    src = WebDatasetSource(str(d / "s.tar"))
    out = [e for u in src.units() for e in u.open()]
    for e in out:
        assert isinstance(e, (Item, Skip))
        if isinstance(e, Item):
            assert e.image_bytes is not None and not e.key.split(":", 1)[1].startswith("/")
            assert ".." not in e.key.split(":", 1)[1].split("/")
