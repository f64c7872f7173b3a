"""provenance demo: offline corpus -> tiny index -> report over the shipped example generations."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from provenance.cli import cli
from provenance.demo.corpus import iter_items
from provenance.demo.examples import make_examples, shipped_examples
from provenance.demo.hosts import SOURCES
from provenance.trace.results import url_host

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_end_to_end_and_rerun(tmp_path, monkeypatch):
    monkeypatch.setenv("PROVENANCE_INDEXES", str(tmp_path / "indexes"))
    out = tmp_path / "demo-out"
    t0 = time.time()
    res = CliRunner().invoke(cli, ["demo", "--out", str(out)], catch_exceptions=False)
    first = time.time() - t0
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "12 of 12 edited copies of corpus items came back at rank 1" in text
    assert "untrained" in text and "near-duplication, not meaning" in text
    assert "open_clip:ViT-B-32/laion2b_s34b_b79k" in text  # how to get real results
    assert str(out / "report" / "report.html") in text
    assert (tmp_path / "indexes" / "demo" / "manifest.json").is_file()
    for f in ("report.html", "generations.parquet", "generations.csv", "neighbours.parquet", "groups.csv", "group_tests.csv", "run.json"):
        assert (out / "report" / f).is_file(), f
    gens = pq.read_table(out / "report" / "generations.parquet").to_pylist()
    assert len(gens) == 24
    copies = [g for g in gens if g["copied_from"]]
    assert copies and all(Path(g["top_neighbour_key"]) == (out / "corpus" / g["copied_from"]).resolve() for g in copies)
    assert all(g["near_duplicate"] for g in copies)
    run = json.loads((out / "report" / "run.json").read_text())
    assert run["encoder"]["spec"] == "tiny" and run["encoder"]["trained"] is False
    print(f"first demo run: {first:.1f}s")

    # A second run reuses the corpus, the index and every traced generation.
    res = CliRunner().invoke(cli, ["demo", "--out", str(out), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["index"]["rebuilt"] is False and s["corpus"]["built"] is False and s["near_copies_found"] is True
    assert json.loads((out / "report" / "run.json").read_text())["counts"]["resumed"] == 24


def test_demo_refuses_to_replace_someone_elses_index(tmp_path, monkeypatch):
    home = tmp_path / "indexes"
    monkeypatch.setenv("PROVENANCE_INDEXES", str(home))
    (home / "demo").mkdir(parents=True)
    (home / "demo" / "manifest.json").write_text(json.dumps({"sources": [{"source": str(tmp_path / "my-photos")}], "encoder": {"spec": "tiny"}}))
    res = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "did not make" in res.output
    assert (home / "demo" / "manifest.json").is_file()


def test_shipped_examples_are_what_the_script_makes(tmp_path):
    shipped = shipped_examples()
    assert shipped == REPO / "examples" / "generations"
    made = make_examples(tmp_path)
    assert (tmp_path / "manifest.csv").read_text() == (shipped / "manifest.csv").read_text()
    for e in made:
        assert (tmp_path / e.path).read_bytes() == (shipped / e.path).read_bytes(), e.path
    size = sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file())
    assert size < 2_000_000
    rows = list(csv.DictReader(open(shipped / "manifest.csv")))
    assert len(rows) == 24 and {r["model"] for r in rows} == {"generator-A", "generator-B"}
    assert len({r["cohort"] for r in rows}) == 4 and len({r["scene"] for r in rows}) == 3


def test_corpus_metadata_is_realistic():
    items = list(iter_items())
    assert 400 <= len(items) <= 600
    sources = {it.meta["demo_source"] for it in items}
    assert sources == set(SOURCES)
    hosts = {url_host(it.meta["url"]) for it in items}
    assert len(hosts) >= 25 and all(it.meta["url"].startswith("https://") for it in items)
    assert any("shutterstock.com" in h for h in hosts) and any("cdninstagram.com" in h for h in hosts)
    assert any("&amp;" in it.meta["caption"] or "<b>" in it.meta["caption"] for it in items)  # raw HTML, like LAION
