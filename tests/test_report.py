"""provenance report: real index, real manifest, real CLI; checks every output file's schema and numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from provenance.cli import cli
from provenance.demo import images as im
from provenance.demo.labels import KnownSourceLabeler
from provenance.index import build_index, open_index
from provenance.report import run_report

NAMES = ["astronaut", "coffee", "chelsea", "rocket", "clock", "moon", "camera", "coins", "horse", "page", "brick", "retina"]
SOURCE_OF = {n: ("personal", "stock", "commercial", "editorial")[i % 4] for i, n in enumerate(NAMES)}
EVIL_CAPTION = '<script>alert("x")</script> <img src=x onerror=alert(1)> Coffee &amp; cake'
K = 5


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A labelled index of bundled photos and variants, and a manifest of edited copies in two groups."""
    root = tmp_path_factory.mktemp("study")
    corpus = root / "corpus"
    corpus.mkdir()
    photos = im.photos()
    for name in NAMES:
        for edit, pic in (("orig", photos[name]), ("sepia", im.sepia(photos[name])), ("flip", im.flip(photos[name]))):
            pic.save(corpus / f"{name}-{edit}.jpg", quality=90)
            meta = {"caption": f"{name} {edit}", "url": f"https://www.shutterstock.com/image-photo/{name}-{edit}-260nw-1.jpg",
                    "demo_source": SOURCE_OF[name]}
            if name == "coffee" and edit == "orig":
                meta.update(caption=EVIL_CAPTION, url="javascript:alert(document.cookie)")
            (corpus / f"{name}-{edit}.json").write_text(json.dumps(meta))
    build_index(root / "ix", str(corpus), encoder="tiny", progress=False, labeler=KnownSourceLabeler())
    gens = root / "gens"
    gens.mkdir()
    rows = []
    for i, name in enumerate(NAMES[:8]):
        pic = photos[name]
        pic = im.blur(pic.resize((pic.size[0] * 7 // 8, pic.size[1] * 7 // 8)), 0.6)
        fname = f"gen<{i}>.png" if i == 0 else f"gen-{i}.jpg"
        pic.save(gens / fname)
        rows.append({"path": fname, "model": "A" if i % 2 else "B", "cohort": "old" if i < 4 else "young",
                     "prompt": f"prompt {i}", "seed": str(i), "copied_from": f"{name}-orig.jpg"})
    (gens / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    rows.append({"path": "broken.jpg", "model": "A", "cohort": "old", "prompt": "broken", "seed": "98", "copied_from": ""})
    rows.append({"path": "nowhere.png", "model": "B", "cohort": "young", "prompt": "missing", "seed": "99", "copied_from": ""})
    manifest = gens / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return {"root": root, "index": root / "ix", "manifest": manifest, "rows": rows, "corpus": corpus, "n_good": 8}


def _run(args):
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    return res


def test_report_files_schema_and_numbers(study, tmp_path):
    out = tmp_path / "rep"
    res = _run(["report", str(study["manifest"]), "--index", str(study["index"]), "-k", str(K), "--group-by", "model,cohort",
                "-o", str(out), "--json", "--no-ocr"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    for f in ("report.html", "generations.parquet", "generations.csv", "neighbours.parquet", "groups.csv", "group_tests.csv",
              "plots/source_mix.png", "plots/similarity.png", "plots/near_duplicates.png", "run.json"):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    n = study["n_good"]
    classes = summary["classes"]
    assert classes[:6] == ["personal", "stock", "commercial", "editorial", "art", "other"]

    gens = pq.read_table(out / "generations.parquet").to_pylist()
    assert len(gens) == n
    for g in gens:
        total = sum(g[f"share_{c}"] for c in classes)
        assert total == pytest.approx(1.0, abs=0.005)  # composer shares are rounded to 3 decimals
        for c in classes:
            assert g[f"share_{c}_low"] - 1e-9 <= g[f"share_{c}"] <= g[f"share_{c}_high"] + 1e-9
        assert sum(g[f"count_{c}"] for c in classes) == K
        assert g["k"] == K and g["model"] in ("A", "B") and g["prompt"].startswith("prompt")
        # The edited copy's own original is its nearest training item.
        row = next(r for r in study["rows"] if r["path"] == g["generation"])
        assert Path(g["top_neighbour_key"]).name == row["copied_from"]
        assert g["top_neighbour_label"] == SOURCE_OF[row["copied_from"].split("-")[0]]
    assert len(list(csv.DictReader(open(out / "generations.csv")))) == n

    nb = pq.read_table(out / "neighbours.parquet")
    for col in ("generation", "model", "cohort", "rank", "similarity", "neighbour_id", "neighbour_url", "neighbour_caption",
                "label", "near_duplicate", "p_personal", "p_stock"):
        assert col in nb.column_names
    nbr = nb.to_pylist()
    assert len(nbr) == n * K
    assert len({(r["generation"], r["rank"]) for r in nbr}) == n * K
    # Each generation's shares follow from its neighbour rows: similarity-weighted label probabilities when the
    # attribution composer made them, plain label fractions otherwise.
    weighted = json.loads((out / "run.json").read_text())["composition"]["method"][0].startswith("attribution")
    for g in gens:
        mine = [r for r in nbr if r["generation"] == g["generation"]]
        w = [max(r["similarity"], 0) if weighted else 1.0 for r in mine]
        for c in ("personal", "stock", "commercial", "editorial"):
            expect = sum(wi * (r[f"p_{c}"] if weighted else r["label"] == c) for wi, r in zip(w, mine)) / sum(w)
            assert g[f"share_{c}"] == pytest.approx(expect, abs=1e-3)  # the composer rounds to 3 decimals

    groups = list(csv.DictReader(open(out / "groups.csv")))
    combined = [g for g in groups if g["grouping"] == "model+cohort"]
    expected = {}
    for r in study["rows"][:n]:
        expected[(r["model"], r["cohort"])] = expected.get((r["model"], r["cohort"]), 0) + 1
    assert {(g["model"], g["cohort"]): int(g["n"]) for g in combined} == expected
    by_model = {g["model"]: int(g["n"]) for g in groups if g["grouping"] == "model"}
    assert by_model == {"A": 4, "B": 4}
    for g in groups:
        assert sum(float(g[f"share_{c}"]) for c in classes) == pytest.approx(1.0, abs=0.005)  # composer shares are rounded to 3 decimals
        for c in classes:
            if g[f"share_{c}_low"] != "":
                assert float(g[f"share_{c}_low"]) - 1e-9 <= float(g[f"share_{c}"]) <= float(g[f"share_{c}_high"]) + 1e-9

    tests = list(csv.DictReader(open(out / "group_tests.csv")))
    assert {t["grouping"] for t in tests} == {"model+cohort", "model", "cohort"}
    chi = next(t for t in tests if t["grouping"] == "model" and t["test"] == "chi2_neighbour_labels")
    assert 0 < float(chi["p_value"]) <= 1 and int(float(chi["dof"])) >= 1
    perm = next(t for t in tests if t["grouping"] == "cohort" and t["test"] == "permutation_shares" and t["source"] == "all")
    assert 0 < float(perm["p_value"]) <= 1

    run = json.loads((out / "run.json").read_text())
    assert run["k"] == K and run["group_by"] == ["model", "cohort"]
    assert run["near_duplicate"]["threshold"] == pytest.approx(0.99)
    assert "tiny" in run["near_duplicate"]["source"] and run["near_duplicate"]["how_chosen"]
    assert run["encoder"]["spec"] == "tiny" and run["index"]["manifest"]["count"] == 36
    assert run["versions"]["provenance"] and run["command"].startswith("provenance report")
    assert run["skip_reasons"] == {"unreadable image": 1, "missing file": 1}
    assert {s["path"] for s in run["skipped"]} == {"broken.jpg", "nowhere.png"}
    assert set(run["timings_seconds"]) >= {"trace", "tables", "total"}
    assert any("near-duplication, not meaning" in n for n in run["notes"])


def test_html_escapes_captions_urls_and_names(study, tmp_path):
    out = tmp_path / "rep"
    run_report(open_index(study["index"]), study["manifest"], out, k=K, group_by=["model"], ocr=False, show_neighbours=K)
    html = (out / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "javascript:" not in html
    assert "gen&lt;0&gt;.png" in html and "gen<0>.png" not in html
    # Opens offline: every image is embedded, the policy forbids fetching anything else.
    assert "img-src data:\"" in html or "img-src data:;" in html or "img-src data:\">" in html
    assert 'src="http' not in html and 'src="data:image/jpeg;base64,' in html
    assert "nearest-neighbour source composition" in html and "not proven influence" in html
    assert "reference corpus of the same web" in html and "near-duplication, not meaning" in html
    assert "broken.jpg" in html and "missing file" in html  # skipped inputs are listed


def test_remote_thumbnails_only_when_asked(study, tmp_path):
    out = tmp_path / "rep"
    run_report(open_index(study["index"]), study["manifest"], out, k=K, ocr=False, remote_thumbnails=True)
    html = (out / "report.html").read_text()
    # Local files still win; the CSP now allows http(s) images, and no javascript: URL slipped in.
    assert "img-src data: https: http:" in html and "javascript:" not in html


def test_interrupted_run_resumes_without_duplicates(study, tmp_path):
    out = tmp_path / "rep"
    ix = open_index(study["index"])

    def stop(done, total):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_report(ix, study["manifest"], out, k=K, group_by=["model"], ocr=False, batch_size=2, on_progress=stop)
    assert not (out / "generations.parquet").exists()
    lines = (out / ".work" / "traces.jsonl").read_text().splitlines()
    assert len(lines) == 4
    # A crash mid-write leaves a torn last line: it is dropped, not duplicated.
    with open(out / ".work" / "traces.jsonl", "a") as f:
        f.write('{"file": "torn')
    s = run_report(ix, study["manifest"], out, k=K, group_by=["model"], ocr=False, batch_size=2)
    assert (s.n_resumed, s.n_traced_now, s.n_generations) == (4, 5, 8)  # 5 = 4 good + the unreadable one
    nb = pq.read_table(out / "neighbours.parquet").to_pylist()
    assert len(nb) == 8 * K and len({(r["generation"], r["rank"]) for r in nb}) == 8 * K
    assert len(pq.read_table(out / "generations.parquet")) == 8
    again = run_report(ix, study["manifest"], out, k=K, group_by=["model"], ocr=False)
    assert (again.n_resumed, again.n_traced_now) == (9, 0)
    forced = run_report(ix, study["manifest"], out, k=K, group_by=["model"], ocr=False, force=True)
    assert (forced.n_resumed, forced.n_traced_now) == (0, 9)
    changed = run_report(ix, study["manifest"], out, k=K + 1, group_by=["model"], ocr=False)
    assert changed.n_resumed == 0 and json.loads((out / "run.json").read_text())["counts"]["discarded_because"] == "settings changed"


def test_folder_jsonl_and_parquet_inputs(study, tmp_path):
    ix = open_index(study["index"])
    s = run_report(ix, study["manifest"].parent, tmp_path / "folder", k=3, group_by=["folder"], ocr=False)
    assert s.n_generations == 8 and s.skip_reasons == {"unreadable image": 1}
    good = [r for r in study["rows"] if r["path"] not in ("broken.jpg", "nowhere.png")]
    jl = tmp_path / "m.jsonl"
    jl.write_text("".join(json.dumps({**r, "path": str(study["manifest"].parent / r["path"])}) + "\n" for r in good))
    assert run_report(ix, jl, tmp_path / "jl", k=3, group_by=["cohort"], ocr=False).n_generations == 8
    import pyarrow as pa

    pqf = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "path": str(study["manifest"].parent / r["path"]), "seed": int(r["seed"])} for r in good]), pqf)
    s = run_report(ix, pqf, tmp_path / "pq", k=3, group_by=["model", "cohort"], ocr=False)
    assert s.n_generations == 8 and {g["grouping"] for g in s.groups} == {"model+cohort", "model", "cohort"}


def test_bad_input_errors(study, tmp_path):
    ixp = str(study["index"])
    res = _run(["report", str(study["manifest"]), "--index", ixp, "--group-by", "model,generation_era", "-o", str(tmp_path / "a")])
    assert res.exit_code == 2 and "generation_era" in res.output and "Traceback" not in res.output
    empty = tmp_path / "empty.csv"
    empty.write_text("path,model\n")
    res = _run(["report", str(empty), "--index", ixp, "-o", str(tmp_path / "b")])
    assert res.exit_code == 2 and "no generations" in res.output
    gone = tmp_path / "gone.csv"
    gone.write_text("path,model\nnope1.png,A\nnope2.png,B\n")
    res = _run(["report", str(gone), "--index", ixp, "-o", str(tmp_path / "c")])
    assert res.exit_code == 1 and "2 missing file" in res.output
    assert not (tmp_path / "c" / "report.html").exists()
    res = _run(["report", str(tmp_path / "no-such.csv"), "--index", ixp])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_one_precision_for_the_whole_run(study, tmp_path, monkeypatch):
    """Chunks are traced at one precision: a short last chunk must not load a second, float32 model."""
    from helpers import record_precisions

    ix = open_index(study["index"])
    asked = record_precisions(ix, monkeypatch)
    run_report(ix, study["manifest"], tmp_path / "rep", k=K, batch_size=3, ocr=False, faces=False)
    assert len(asked) >= 3 and set(asked) == {"auto"}  # 9+ generations: the stream's precision, every chunk
