#!/usr/bin/env python
"""Train the learned part of the source classifier (provenance/data/source_model.npz).

LABELS is a CSV of ``row,label`` pairs (default: data/training/source_labels.csv, hand-labelled rows of
the shared web alt-text file following ../shared/data/LABELLING.md). Rows are joined by their ``row`` id
with DATA (default: ../shared/data/web_alt_text.parquet) for their URL and caption. Rows of the shared
development set are refused: it stays a held-out check.

The model is a multinomial logistic regression (L2-regularised, fitted with scipy's L-BFGS) over
0/1 URL and caption features plus the capped per-family evidence sums of the rules; see
src/provenance/attribute/learned.py. Its settings (regularisation, class weighting, how far the rules' top
class must lead for the rules to keep their decision) are chosen by stratified 5-fold cross-validation on LABELS; the
cross-validated figures of the rules alone and of rules + model are printed and stored in the model file.

    python scripts/train_source_model.py                          # cross-validate, train, write the model
    python scripts/train_source_model.py --cv-only                # figures only, no model written
    python scripts/train_source_model.py --labels mine.csv --out /tmp/m.npz --folds 3 --grid small
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEFAULT_LABELS = REPO / "data" / "training" / "source_labels.csv"
DEFAULT_DATA = SHARED / "web_alt_text.parquet"
DEFAULT_DEV = SHARED / "web_alt_text_labelled_dev.csv"
DEFAULT_OUT = REPO / "src" / "provenance" / "data" / "source_model.npz"

GRIDS = {
    "full": {"l2": [1.0, 3.0, 10.0, 30.0], "class_power": [0.0, 0.5], "rule_margin": [None, 1.0, 2.0, 3.0], "min_count": [2],
             "decisive_cue": [3.0], "fit_undecided": [True], "bias": [False], "site_cue": [2.0],
             "site_families": [["domain", "host"], ["domain"]]},
    "small": {"l2": [3.0], "class_power": [0.5], "rule_margin": [2.0], "min_count": [1], "decisive_cue": [3.0], "fit_undecided": [True], "bias": [False], "site_cue": [2.0],
              "site_families": [["domain"]]},
}


def read_labels(path: Path) -> list[tuple[int, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"row", "label"} <= set(reader.fieldnames):
            raise SystemExit(f"{path}: needs columns row,label")
        out = [(int(r["row"]), r["label"].strip()) for r in reader]
    rows = [r for r, _ in out]
    if len(set(rows)) != len(rows):
        raise SystemExit(f"{path}: a row is labelled twice")
    return out


def join_rows(labels: list[tuple[int, str]], data: Path, dev: Path | None) -> list[dict]:
    import pyarrow.parquet as pq

    table = {r["row"]: r for r in pq.read_table(data, columns=["row", "url", "caption"]).to_pylist()}
    if dev is not None and dev.exists():
        import pyarrow.csv as pacsv

        held = set(pacsv.read_csv(dev).column("row").to_pylist())
        clash = sorted(r for r, _ in labels if r in held)
        if clash:
            raise SystemExit(f"{len(clash)} training rows are development-set rows (e.g. {clash[:5]}): the dev set must stay held out")
    missing = [r for r, _ in labels if r not in table]
    if missing:
        raise SystemExit(f"{len(missing)} labelled rows are not in {data} (e.g. {missing[:5]})")
    return [{**table[r], "label": lab} for r, lab in labels]


# -- features ------------------------------------------------------------------------

def featurize(rows: list[dict], clf) -> tuple[list[list[str]], list[dict[str, float]], list[dict[str, float]]]:
    sparse, dense, strongest = [], [], []
    for r in rows:
        sums, feats, top = clf.analyse(r["url"], r["caption"])
        sparse.append(feats)
        dense.append(sums)
        strongest.append(top)
    return sparse, dense, strongest


def dense_names(classes: list[str]) -> list[str]:
    from provenance.attribute.learned import DENSE_FAMILIES

    return [f"{f}:{c}" for f in DENSE_FAMILIES for c in classes]


def design(sparse: list[list[str]], dense: list[dict[str, float]], vocab: dict[str, int], dnames: list[str]):
    """CSR matrix: sparse 0/1 columns first, then the dense rule sums."""
    from scipy.sparse import csr_matrix

    dindex = {n: len(vocab) + i for i, n in enumerate(dnames)}
    indptr, indices, values = [0], [], []
    for feats, sums in zip(sparse, dense):
        cols = {vocab[f] for f in feats if f in vocab}
        for c in sorted(cols):
            indices.append(c)
            values.append(1.0)
        for n, v in sums.items():
            if n in dindex and v:
                indices.append(dindex[n])
                values.append(v)
        indptr.append(len(indices))
    return csr_matrix((values, indices, indptr), shape=(len(sparse), len(vocab) + len(dnames)))


def build_vocab(sparse: list[list[str]], min_count: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for feats in sparse:
        for f in set(feats):
            counts[f] = counts.get(f, 0) + 1
    return {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= min_count))}


# -- logistic regression -------------------------------------------------------------

def fit(X, y: np.ndarray, n_classes: int, l2: float, sample_weight: np.ndarray,
        offset: np.ndarray | None = None, bias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on top of fixed per-class ``offset`` scores (the rules' scores):
    minimise Σ w_i · CE_i / Σ w_i + l2/(2n) · |W|²; returns (W, b). With a large ``l2`` it keeps the
    rules' decisions; it moves away from them only as far as the labelled rows support."""
    from scipy.optimize import minimize

    n, d = X.shape
    Y = np.zeros((n, n_classes))
    Y[np.arange(n), y] = 1.0
    sw = sample_weight / sample_weight.sum()
    lam = l2 / n
    Xt = X.T.tocsr()

    def objective(theta):
        W = theta[: d * n_classes].reshape(d, n_classes)
        b = theta[d * n_classes:]
        Z = X @ W + b
        if offset is not None:
            Z = Z + offset
        Z -= Z.max(axis=1, keepdims=True)
        logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
        loss = -(sw * (Y * logp).sum(axis=1)).sum() + 0.5 * lam * (W * W).sum()
        G = (np.exp(logp) - Y) * sw[:, None]
        gW = Xt @ G + lam * W
        gb = G.sum(axis=0) if bias else np.zeros(n_classes)  # without a bias term the rules' priors stand
        return loss, np.concatenate([gW.ravel(), gb])

    theta0 = np.zeros(d * n_classes + n_classes)
    res = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-7})
    W = res.x[: d * n_classes].reshape(d, n_classes)
    return W, res.x[d * n_classes:]


def class_weights(y: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    counts = np.bincount(y, minlength=n_classes).astype(float)
    per = (len(y) / (n_classes * np.maximum(counts, 1.0))) ** power
    return per[y]


def predict(X, W: np.ndarray, b: np.ndarray, rule_scores: np.ndarray, decisive: np.ndarray | None) -> np.ndarray:
    """Labels: rules + model, except where the rules are decisive (they keep their label)."""
    pred = (np.asarray(X @ W + b) + rule_scores).argmax(axis=1)
    if decisive is not None:
        pred = np.where(decisive, rule_scores.argmax(axis=1), pred)
    return pred


# -- evaluation ----------------------------------------------------------------------

def metrics(truth: list[str], pred: list[str], classes: list[str]) -> dict:
    from provenance.attribute.evaluate import scores

    res = scores(truth, pred, classes)
    return {"accuracy": res["accuracy"], "macro_f1": res["macro_f1"],
            "per_class_f1": {c: res["per_class"][c]["f1"] for c in classes if res["per_class"][c]["support"]}}


def folds_of(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Stratified fold number of each row (seeded)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % k
    return fold


class Data:
    """Features of the labelled rows, computed once."""

    def __init__(self, rows: list[dict], clf):
        self.classes = list(clf.classes)
        cidx = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({r["label"] for r in rows} - set(cidx))
        if unknown:
            raise SystemExit(f"labels {unknown} are not classes of the taxonomy {self.classes}")
        self.y = np.array([cidx[r["label"]] for r in rows])
        self.sparse, self.dense, self.strongest = featurize(rows, clf)
        self.dnames = dense_names(self.classes)
        # the rules' own scores and decision, per row
        base = np.array([clf._base[c] for c in self.classes])
        self.rule_scores = np.tile(base, (len(rows), 1))
        for i, sums in enumerate(self.dense):
            for k, v in sums.items():
                fam, _, c = k.partition(":")
                self.rule_scores[i, self.classes.index(c)] += v
        self.rule_pred = self.rule_scores.argmax(axis=1)
        top2 = np.sort(self.rule_scores, axis=1)[:, -2:]
        self.margin = top2[:, 1] - top2[:, 0]
        # the strongest single cue of the rules' chosen class (a listed host, a stock file name, ...)
        self.top_cue = np.array([st.get(self.classes[p], 0.0) for st, p in zip(self.strongest, self.rule_pred)])
        self.top_site = np.array([st.get("site:" + self.classes[p], 0.0) for st, p in zip(self.strongest, self.rule_pred)])
        self.top_family = {f: np.array([st.get(f"{f}:{self.classes[p]}", 0.0) for st, p in zip(self.strongest, self.rule_pred)])
                           for f in ("host", "domain")}

    def decisive(self, s: dict, idx: np.ndarray) -> np.ndarray | None:
        """Rows where the rules keep their label: their top class leads by ``rule_margin`` or more, or
        rests on a single cue of ``decisive_cue`` or more, or on a cue of ``site_cue`` or more of the
        ``site_families`` (host, domain-name words; default both) (as SourceClassifier._model_applies)."""
        margin, cue, site = s.get("rule_margin"), s.get("decisive_cue"), s.get("site_cue")
        out = np.zeros(len(idx), dtype=bool)
        if site is not None:
            families = s.get("site_families")
            if families is None:
                out |= self.top_site[idx] >= site
            else:
                for f in families:
                    out |= self.top_family[f][idx] >= site
        if margin is not None:
            out |= self.margin[idx] >= margin
        if cue is not None:
            out |= self.top_cue[idx] >= cue
        return out

    def train(self, idx: np.ndarray, s: dict) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        if s.get("fit_undecided"):
            # fit only the rows the model will see: where the rules are not decisive
            idx = idx[~self.decisive(s, idx)]
        sparse = [self.sparse[i] for i in idx]
        vocab = build_vocab(sparse, s["min_count"])
        X = design(sparse, [self.dense[i] for i in idx], vocab, self.dnames)
        y = self.y[idx]
        W, b = fit(X, y, len(self.classes), s["l2"], class_weights(y, len(self.classes), s["class_power"]),
                   self.rule_scores[idx], bias=s.get("bias", True))
        return vocab, W, b

    def predict(self, idx: np.ndarray, vocab, W, b, s: dict) -> np.ndarray:
        X = design([self.sparse[i] for i in idx], [self.dense[i] for i in idx], vocab, self.dnames)
        return predict(X, W, b, self.rule_scores[idx], self.decisive(s, idx))

    def cross_validate(self, s: dict, k: int) -> np.ndarray:
        fold = folds_of(self.y, k)
        pred = np.empty_like(self.y)
        for f in range(k):
            tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            vocab, W, b = self.train(tr, s)
            pred[te] = self.predict(te, vocab, W, b, s)
        return pred

    def report(self, pred: np.ndarray) -> dict:
        return metrics([self.classes[i] for i in self.y], [self.classes[i] for i in pred], self.classes)


def _per_class(res: dict) -> str:
    return "F1 " + ", ".join(f"{c} {f:.3f}" for c, f in res["per_class_f1"].items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="CSV of row,label (default: %(default)s)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Parquet with row,url,caption (default: the shared 10k rows)")
    ap.add_argument("--dev", type=Path, default=DEFAULT_DEV, help="development set whose rows must not be trained on")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model file to write (default: %(default)s)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--grid", choices=sorted(GRIDS), default="full", help="settings tried by cross-validation")
    ap.add_argument("--cv-only", action="store_true", help="print cross-validated figures, write no model")
    args = ap.parse_args(argv)

    from provenance.attribute import SourceClassifier
    from provenance.attribute.learned import save_model

    t0 = time.perf_counter()
    labels = read_labels(args.labels)
    rows = join_rows(labels, args.data, args.dev)
    clf = SourceClassifier(learned=False)  # the rules alone: their evidence sums are the model's dense features
    data = Data(rows, clf)
    print(f"{len(rows)} labelled rows: " + ", ".join(f"{c} {int((data.y == i).sum())}" for i, c in enumerate(data.classes)))
    rules = data.report(data.rule_pred)
    print(f"rules alone: accuracy {rules['accuracy']:.3f}  macro-F1 {rules['macro_f1']:.3f}  ({_per_class(rules)})")
    grid = GRIDS[args.grid]
    keys = list(grid)
    results = []
    for values in itertools.product(*(grid[k] for k in keys)):
        s = dict(zip(keys, values))
        res = data.report(data.cross_validate(s, args.folds))
        results.append((res["macro_f1"] + res["accuracy"], s, res))
        print(f"  {json.dumps(s)}: accuracy {res['accuracy']:.3f}  macro-F1 {res['macro_f1']:.3f}")
    _, best, cv = max(results, key=lambda t: t[0])
    print(f"chosen by {args.folds}-fold cross-validation: {json.dumps(best)}: accuracy {cv['accuracy']:.3f}  macro-F1 {cv['macro_f1']:.3f}  ({_per_class(cv)})")
    if args.cv_only:
        return 0
    idx = np.arange(len(rows))
    vocab, W, b = data.train(idx, best)
    names = sorted(vocab, key=vocab.get)
    nv = len(names)
    meta = {"trained_on": {"labels": args.labels.name, "data": args.data.name, "rows": len(rows),
                           "counts": {c: int((data.y == i).sum()) for i, c in enumerate(data.classes)}},
            "settings": best, "cv": {"folds": args.folds, "rules": rules, "rules_and_model": cv},
            "taxonomy_digest": clf.tax.digest, "classes": data.classes}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(args.out, data.classes, names, W[:nv], data.dnames, W[nv:], b, meta)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB, {nv} sparse features) in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
