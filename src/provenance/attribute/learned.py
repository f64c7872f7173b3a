"""The learned part of the source classifier: a multinomial logistic regression over URL / caption words.

Hand-written host lists and lexicons know the big sites and the telling phrases; what they miss is the
long tail — a product or a headline on a site in no list, whose name says nothing. A linear model over
the words of the URL and caption, trained on hand-labelled rows, learns that tail: which path words
mean a shop, which caption shapes a headline. It does not replace the rules: the per-family evidence
sums of the rules are features of the model, so it learns how far to trust each family, and a
decisive host keeps priority (see :class:`SourceClassifier`).

Model file (``provenance/data/source_model.npz``, loaded with ``allow_pickle=False``):

``format``         int32 [1]: :data:`FORMAT` (files of another format are refused)
``classes``        UTF-8 bytes (uint8), class names joined by newlines, in weight-column order
``vocab``          UTF-8 bytes (uint8), sparse feature names joined by newlines (see :func:`sparse_features`)
``weights``        float16 [len(vocab), n_classes]: weight of each present sparse feature (features are 0/1)
``dense_names``    UTF-8 bytes (uint8), ``family:class`` names of the dense features, joined by newlines
``dense_weights``  float32 [len(dense_names), n_classes]: weight of each capped rule-family sum
``bias``           float32 [n_classes]
``meta``           UTF-8 bytes (uint8) of a JSON object: training data, settings, cross-validated figures

Scores are ``bias + Σ weights[present features] + dense_values · dense_weights``; families the model was
not trained on (metadata columns, image cues, zero-shot) are added at their rule weight by the caller.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from itertools import repeat
from operator import add, mul
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1
MODEL_FILE = "source_model.npz"
# Rule families whose capped sums are model features; the others never occur in URL/caption training rows.
DENSE_FAMILIES = ("host", "domain", "url", "caption")

def sparse_features(parts: Any, toks: list[str]) -> list[str]:
    """Names of the 0/1 features of one item: the words it holds, never its shape.

    ``parts`` is the :class:`~provenance.attribute.urls.UrlParts` of the URL (or None), ``toks`` the
    lower-case caption words. Prefixes: ``x:`` proxy domain, ``d:`` registrable domain, ``b:`` brand
    (the name under the public suffix), ``s:`` sub-domain words, ``u:`` URL path words (folders),
    ``f:`` file-name words, ``w:`` caption words (numbers as ``w:#``). Shape features (path depth,
    caption length, ...) were tried and left out: they did not help in cross-validation, and they
    would act as a bias that moves items with no real evidence away from the fallback class.
    Written for speed: it runs on every item the rules do not decide.
    """
    out: list[str] = []
    if parts is not None:
        target = parts.inner or parts
        hp = target.host
        if parts.inner is not None and parts.host is not None:
            out.append("x:" + (parts.host.domain or parts.host.host))  # the proxy itself
        if hp is not None:
            host_features = _HOST_FEATURES.get(hp.host)
            if host_features is None:
                host_features = _host_features(hp)
                if len(_HOST_FEATURES) < 65536:
                    _HOST_FEATURES[hp.host] = host_features
            out += host_features
        head, _, name = target.path.partition("?")[0].rpartition("/")
        stem, dot, ext = name.rpartition(".")
        if not (dot and 2 <= len(ext) <= 5 and ext.isalnum()):  # an rpartition: a regex anchored at $ costs microseconds
            stem = name
        out += ["f:" + w for w in dict.fromkeys(_LETTER_WORD.findall(stem))]
        out += ["u:" + w for w in set(_LETTER_WORD.findall(head))]
    if toks:
        out += dict.fromkeys(["w:#" if t[0].isdigit() else "w:" + t for t in toks])  # numbers: one "w:#"
    return out


# host name -> its features (a HostParts follows from its host name). A dict, not lru_cache: hashing the
# HostParts dataclass for the cache key costs more than the features themselves.
_HOST_FEATURES: dict[str, tuple[str, ...]] = {}


def _host_features(hp: Any) -> tuple[str, ...]:
    out = ["d:" + (hp.domain or hp.host)]
    if hp.brand:
        out.append("b:" + hp.brand)
    if hp.subdomain:
        out += ["s:" + w for w in _LETTER_WORD.findall(hp.subdomain)]
    return tuple(out)


_LETTER_WORD = re.compile(r"[a-z]{2,}")


class LearnedModel:
    """Scores of a trained model; thread-safe (read-only after loading)."""

    def __init__(self, classes: list[str], vocab: list[str], weights: np.ndarray, dense_names: list[str],
                 dense_weights: np.ndarray, bias: np.ndarray, meta: dict[str, Any], source: str = "memory"):
        if weights.shape != (len(vocab), len(classes)) or dense_weights.shape != (len(dense_names), len(classes)):
            raise ValueError("model arrays do not match its vocabulary and classes")
        self.classes = list(classes)
        self.meta = meta
        self.source = source
        rows = weights.astype(np.float64).tolist()
        # one tuple of per-class weights per feature: summing a few dozen of them in Python beats numpy's call overhead
        self.index: dict[str, tuple[float, ...]] = {f: tuple(r) for f, r in zip(vocab, rows)}
        self.dense = {name: tuple(r) for name, r in zip(dense_names, dense_weights.astype(np.float64).tolist())}
        self.bias = tuple(bias.astype(np.float64).tolist())
        self.n_features = len(vocab)

    def for_classes(self, classes: list[str]) -> "LearnedModel":
        """The same model with its score columns in the order of ``classes`` (a permutation of its own)."""
        if list(classes) == self.classes:
            return self
        order = [self.classes.index(c) for c in classes]
        out = object.__new__(LearnedModel)
        out.classes = list(classes)
        out.meta, out.source, out.n_features = self.meta, self.source, self.n_features
        out.index = {f: tuple(w[i] for i in order) for f, w in self.index.items()}
        out.dense = {f"{n.partition(':')[0]}:{n.partition(':')[2]}": tuple(w[i] for i in order) for n, w in self.dense.items()}
        out.bias = tuple(self.bias[i] for i in order)
        return out

    def scores(self, feats: list[str], dense: dict[str, float]) -> list[float]:
        """Per-class score corrections of an item with sparse features ``feats`` and rule-family sums ``dense``."""
        # The same float operations, in the same order, as per class ``bias + sum(sparse weights)`` and
        # then ``+ v * weight`` for each dense value, but as maps over the classes: one
        # sum(terms, start) per class rather than a new six-value list per dense value.
        ws = list(filter(None, map(self.index.get, feats)))  # the weight tuples of the features the model knows
        base = map(add, self.bias, map(sum, zip(*ws))) if ws else self.bias
        dget = self.dense.get
        products = [map(mul, repeat(v), w) for name, v in dense.items() if (w := dget(name)) is not None]
        return list(map(sum, zip(*products), base)) if products else list(base)

    def top_features(self, feats: list[str], cls: int, against: int | None = None, n: int = 3) -> list[str]:
        """The ``n`` present features that favour class number ``cls`` most (over class ``against``)."""
        index = self.index
        found = [(w[cls] - (w[against] if against is not None else 0.0), f) for f in feats if (w := index.get(f))]
        found.sort(reverse=True)
        return [f for w, f in found[:n] if w > 0]

    def describe(self) -> dict[str, Any]:
        keep = ("trained_on", "rows", "cv", "settings", "created")
        return {"file": Path(self.source).name, "features": self.n_features, **{k: self.meta[k] for k in keep if k in self.meta}}


def _text(arr: np.ndarray) -> list[str]:
    data = arr.tobytes().decode("utf-8")
    return data.split("\n") if data else []


def _blob(items: list[str]) -> np.ndarray:
    for s in items:
        if "\n" in s:
            raise ValueError(f"feature name with a newline: {s!r}")
    return np.frombuffer("\n".join(items).encode("utf-8"), dtype=np.uint8)


def save_model(path: str | Path, classes: list[str], vocab: list[str], weights: np.ndarray, dense_names: list[str],
               dense_weights: np.ndarray, bias: np.ndarray, meta: dict[str, Any]) -> None:
    """Write a model file in the format described at the top of this module."""
    np.savez_compressed(
        path, format=np.array([FORMAT], dtype=np.int32), classes=_blob(classes), vocab=_blob(vocab),
        weights=weights.astype(np.float16), dense_names=_blob(dense_names), dense_weights=dense_weights.astype(np.float32),
        bias=bias.astype(np.float32), meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8))


def load_model(path: str | Path) -> LearnedModel:
    with np.load(path, allow_pickle=False) as z:
        fmt = int(z["format"][0])
        if fmt != FORMAT:
            raise ValueError(f"{path}: model format {fmt}, this version reads format {FORMAT}")
        return LearnedModel(_text(z["classes"]), _text(z["vocab"]), z["weights"], _text(z["dense_names"]),
                            z["dense_weights"], z["bias"], json.loads(z["meta"].tobytes().decode("utf-8")), str(path))


def builtin_model_path() -> Path:
    return Path(str(resources.files("provenance") / "data" / MODEL_FILE))


@lru_cache(maxsize=4)
def builtin_model() -> LearnedModel | None:
    """The model shipped with the package (None if the file is absent)."""
    p = builtin_model_path()
    return load_model(p) if p.exists() else None
