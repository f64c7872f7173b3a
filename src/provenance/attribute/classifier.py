"""Per-item source attribution: combine URL, caption, metadata-column, image and zero-shot evidence.

Every cue adds a weight (a log-odds contribution) to one class. Per class, the
cues of one family (host, url, caption, columns, image, zero_shot) are summed and
capped, added to ``prior_weight * log(prior)``, and the fallback class (``other``)
gets a constant ``fallback_score``: with no real evidence it wins, with a low
probability. A softmax gives the probabilities; every cue that fired is kept as
evidence, so a label can always be explained.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from math import floor
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from operator import add, sub, truediv
from typing import Any, Mapping

from .domains import person_name
from ..errors import UsageError
from .learned import DENSE_FAMILIES, LearnedModel, builtin_model, load_model, sparse_features
from .phrases import NUMBER, PhraseIndex
from .taxonomy import Taxonomy, load_taxonomy
from .urls import UrlParts, lower_words, parse_url, url_words

FAMILIES = ("host", "domain", "url", "caption", "columns", "image", "zero_shot")
_SITE = frozenset({"host", "domain"})  # the families that say what the site is
_TAG = re.compile(r"<[^>]{0,400}>")
MAX_CAPTION = 2000  # longer alt-texts are cut: the first words carry the evidence, and cost stays bounded


@dataclass(slots=True)
class Attribution:
    label: str
    confidence: float
    probabilities: dict[str, float]
    selfie: bool
    evidence: list[list[Any]]  # [signal, class, weight, what matched], strongest first

    def fields(self) -> dict[str, Any]:
        """The metadata columns an index row (or a classified table row) gets."""
        return dict(zip(field_names(self.probabilities), self.values()))

    def values(self) -> tuple:
        """What :meth:`fields` holds, without the names: label, label_confidence, selfie, one
        probability per class (in class order, rounded shares summing to 1), evidence."""
        label = self.label
        probs = list(map(round6, self.probabilities.values()))
        residue = 1.0 - sum(probs)
        if residue:
            i = list(self.probabilities).index(label)
            probs[i] = round6(probs[i] + residue)
        return (label, round4(self.confidence), self.selfie, *probs, evidence_json(self.evidence))


def _round_fixed(scale: float, digits: int, x: float) -> float:
    # round() converts to a decimal string and back (about 0.4 us), several times per labelled row.
    # For 0 < x < 2, x * scale is within 2**-32 of the exact product, so unless that product lies
    # within 1e-6 of a half (a tie or near one: left to round()), its nearest integer n is the one
    # round() finds, and n / scale (an exact integer over an exact power of ten, correctly rounded)
    # is the double round() parses back from the digits of n.
    if 0.0 < x < 2.0:
        y = x * scale
        n = floor(y)
        frac = y - n
        if not 0.499999 < frac < 0.500001:
            return (n + (frac > 0.5)) / scale
    return round(x, digits)


round6 = partial(_round_fixed, 1e6, 6)  # round(x, 6), exactly, for shares and probabilities
round4 = partial(_round_fixed, 1e4, 4)  # round(x, 4), exactly


def field_names(classes) -> list[str]:
    """Names of :meth:`Attribution.values`, for these classes (in order)."""
    return ["label", "label_confidence", "selfie", *[f"p_{c}" for c in classes], "evidence"]


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # built once: json.dumps would rebuild it per call
_QUOTE = json.encoder.encode_basestring  # C-accelerated JSON string literal, non-ASCII kept


def evidence_json(evidence: list[list[Any]]) -> str:
    """Compact JSON of ``[signal, class, weight, match]`` entries (what json.dumps would give, faster)."""
    return _tuples_json(list(map(tuple, evidence)))


def _tuples_json(entries: list[tuple]) -> str:
    """:func:`evidence_json` of entries that are tuples already (the fragment cache's keys)."""
    try:
        return "[" + ",".join([_FRAGMENTS.get(e) or _fragment(*e) for e in entries]) + "]"
    except (TypeError, ValueError):  # an entry of another shape: the general encoder
        return _ENCODE(entries)


# The same cues recur on many items ("shopify.com", "stock photo"): their JSON is written once.
_FRAGMENTS: dict[tuple, str] = {}


def _fragment(f: str, c: str, w: float, m: str) -> str:
    text = f"[{_QUOTE(f)},{_QUOTE(c)},{float(w)!r},{_QUOTE(m)}]"
    if len(_FRAGMENTS) < 100_000:
        _FRAGMENTS[(f, c, w, m)] = text
    return text


class _Evidence:
    """Cues that fired for one item; each (family, class, match) counts once, at its largest weight."""

    __slots__ = ("cues",)

    def __init__(self) -> None:
        self.cues: dict[tuple[str, str, str], float] = {}

    def add(self, family: str, cls: str, weight: float, match: str) -> None:
        if not weight:
            return  # a zero weight (e.g. a host moved out of a class by a user taxonomy) is no evidence
        key = (family, cls, match)
        old = self.cues.get(key)
        if old is None or abs(weight) > abs(old):
            self.cues[key] = weight

    def has(self, family: str, cls: str, match: str) -> bool:
        return (family, cls, match) in self.cues


THIN_MODEL_CONFIDENCE = 0.35  # below this a model-made label of an item the rules left at `other` stays `other`


class SourceClassifier:
    """Labels items with the classes of a :class:`Taxonomy`. Thread-safe after construction."""

    def __init__(self, taxonomy: Taxonomy | str | None = None, *, learned: bool | str | os.PathLike | LearnedModel | None = None):
        """``learned``: None uses the built-in learned model unless the taxonomy switches it off; False
        never uses one; True requires it; a path or a :class:`LearnedModel` uses that model instead."""
        self.tax = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
        t = self.tax
        self.classes = list(t.classes)
        self.fallback = t.fallback
        pw = t.model["prior_weight"]
        self._base = {c: pw * math.log(t.priors[c]) + (t.model["fallback_score"] if c == self.fallback else 0.0)
                      for c in self.classes}
        self._base_list = list(self._base.values())
        self._index = {c: i for i, c in enumerate(self.classes)}
        self._fallback_index = self._index[self.fallback]
        self._caps = {f: float(t.model["caps"].get(f, 1e9)) for f in FAMILIES}
        self._url_scale = t.model["url_words_scale"]
        self._host_cache: dict[str, tuple[tuple[str, float, str], ...]] = {}
        self._url_phrases = _merge_phrases(t.url_phrases, t.phrases, self._url_scale)
        self._selfie_words = {w for key, _, _ in t.selfie_phrases.entries() for w in key}
        pn = t.model.get("person_name_class")
        self._person_name = (pn, t.model["person_name_weight"]) if pn and t.model["person_name_weight"] else None
        m = t.model
        self._sentence = (int(m["sentence_min_words"]), int(m["sentence_min_function_words"]),
                          m["sentence_function_words"], list(m["sentence_cues"].items()))
        self.model, self.model_reason = _pick_model(t, learned)
        if self.model is not None:
            # ("family", "class") -> the model's name of that rule-family sum, for the families it was trained on
            self._dense_names = {(f, c): f"{f}:{c}" for f in DENSE_FAMILIES for c in self.classes}
            settings = self.model.meta.get("settings", {})
            margin, cue, site = settings.get("rule_margin"), settings.get("decisive_cue"), settings.get("site_cue")
            self._margin = math.inf if margin is None else float(margin)
            self._decisive_cue = math.inf if cue is None else float(cue)
            self._site_cue = math.inf if site is None else float(site)
            families = settings.get("site_families")  # which of the site families the site cue is for (default: both)
            self._site_families = _SITE if families is None else frozenset(families)

    def describe_model(self) -> dict[str, Any]:
        """Whether the learned model is used, why, and what it is (for manifests and ``--json`` output)."""
        out: dict[str, Any] = {"enabled": self.model is not None, "reason": self.model_reason}
        if self.model is not None:
            out.update(self.model.describe())
        return out

    # -- evidence ------------------------------------------------------------------
    def _host_cues(self, parts: UrlParts) -> tuple[tuple[str, str, float, str], ...]:
        """``(family, class, weight, match)`` cues of the host: a listed domain or brand, else words in its name."""
        hp = parts.host
        if hp is None:
            return ()
        cached = self._host_cache.get(hp.host)
        if cached is not None:
            return cached
        out: list[tuple[str, str, float, str]] = []
        labels = hp.host.split(".")
        for i in range(len(labels)):
            d = ".".join(labels[i:])
            cues = self.tax.domains.get(d)
            if cues:
                out = [("host", c, w, d) for c, w in cues]
                break
        if not out and hp.brand:
            out = [("host", c, w, hp.brand) for c, w in self.tax.brands.get(hp.brand, ())]
        if not out and hp.brand:
            # An unlisted host: what its name says ("...times", "...supply") is weaker, separate evidence.
            out = [("domain", c, w, f"{word} in {hp.brand}") for word, c, w in self.tax.domain_words.find(hp.brand)]
            if not out and self._person_name and person_name(hp.brand, self.tax.first_names):
                out = [("domain", *self._person_name, f"person's name {hp.brand}")]
        result = tuple(out)
        if len(self._host_cache) < 200_000:
            self._host_cache[hp.host] = result
        return result

    def _url_evidence(self, ev: _Evidence, url: str) -> UrlParts | None:
        t = self.tax
        parts = parse_url(url, t.proxies, t.query_keys)
        if parts is None:
            return None
        outer_scale = 1.0
        if parts.inner is not None and parts.inner.host is not None:
            # A proxy / resizer: the original host is the real evidence, the proxy only a hint.
            for f, c, w, d in self._host_cues(parts.inner):
                ev.add(f, c, w, d)
            outer_scale = 0.5
        for f, c, w, d in self._host_cues(parts):
            ev.add(f, c, w if outer_scale == 1.0 else round(w * outer_scale, 3), d)
        target = parts.inner or parts
        text = target.url if target.host is None else f"{target.host.host}{target.path}"
        for m, (c, w) in t.url_patterns.matches(text):
            ev.add("url", c, w, "~" + m.group(0)[:40])
        self._phrase_evidence(ev, url_words(target), "url", 1.0, self._url_phrases)
        return parts

    def _phrase_evidence(self, ev: _Evidence, toks: list[str], family: str, scale: float, phrases: PhraseIndex,
                         tokset: set[str] | None = None) -> None:
        cues = ev.cues
        url = family == "url"
        for match, c, w in phrases.find(toks, tokset):
            if not w or (url and ("caption", c, match) in cues):
                continue  # no evidence, or the caption already said it
            if scale != 1.0:
                w = round(w * scale, 3)
            key = (family, c, match)
            old = cues.get(key)
            if old is None or abs(w) > abs(old):  # as _Evidence.add, inlined: this loop runs for every item
                cues[key] = w

    def _caption_evidence(self, ev: _Evidence, caption: str) -> tuple[list[str], set[str], str]:
        text = caption[:MAX_CAPTION]
        if "&" in text:
            text = html.unescape(text)
        if "<" in text:
            text = _TAG.sub(" ", text)
        low = text.lower()
        toks = lower_words(low)
        tokset = set(toks)
        self._phrase_evidence(ev, toks, "caption", 1.0, self.tax.phrases, tokset)
        for m, (c, w) in self.tax.patterns.matches(low):
            ev.add("caption", c, w, "~" + m.group(0)[:40])
        min_words, min_function, function_words, cues = self._sentence
        if cues and len(toks) >= min_words and len(function_words.intersection(tokset)) >= min_function:
            for c, w in cues:
                ev.add("caption", c, w, "sentence-like caption")
        return toks, tokset, text

    def _column_evidence(self, ev: _Evidence, columns: Mapping[str, Any]) -> None:
        for name, value in columns.items():
            specs = self.tax.columns.get(name.lower())
            if not specs:
                continue
            v = _as_float(value)
            if v is None:
                continue
            for c, above, w in specs:
                if v > above:
                    ev.add("columns", c, round(w * min(1.0, (v - above) / (1.0 - above)), 3), f"{name}={v:.2f}")

    def _image_evidence(self, ev: _Evidence, image: Mapping[str, Any]) -> None:
        m = self.tax.model
        if image.get("img_selfie_framing") and m.get("face_selfie_class"):
            ev.add("image", m["face_selfie_class"], m["face_selfie_weight"], "one large central face")
        faces = _as_float(image.get("img_faces"))
        if faces is not None and faces >= 3 and m.get("face_group_class") and m["face_group_weight"]:
            ev.add("image", m["face_group_class"], m["face_group_weight"], f"{int(faces)} faces")
        mark = image.get("img_watermark")
        if mark:
            for c, w in self.tax.watermarks.get(str(mark), ()):
                ev.add("image", c, w, f"watermark '{mark}'")

    # -- decision ------------------------------------------------------------------
    def classify(self, url: str | None = None, caption: str | None = None, columns: Mapping[str, Any] | None = None,
                 image: Mapping[str, Any] | None = None, zero_shot: Mapping[str, float] | None = None) -> Attribution:
        """Attribute one item. ``zero_shot`` maps class -> evidence weight (see :mod:`.zeroshot`)."""
        ev, toks, tokset, parts, text = self._gather(url, caption, columns, image, zero_shot)
        return self._decide(ev, toks, tokset, image, parts, text)

    def analyse(self, url: str | None = None, caption: str | None = None) -> tuple[dict[str, float], list[str], dict[str, float]]:
        """What the learned model is trained on (``scripts/train_source_model.py``): the rule families'
        capped evidence sums (``"family:class"`` -> sum), the model's sparse feature names, and the
        strongest single cue per class (and per ``"site:" + class``, among host and domain-name cues, and per
        ``"host:" + class`` and ``"domain:" + class``)."""
        ev, toks, _, parts, text = self._gather(url, caption, None, None, None)
        strongest: dict[str, float] = {}  # class -> strongest cue; "site:" + class -> strongest host / domain cue
        for (f, c, _), w in ev.cues.items():
            for key in ((c, "site:" + c, f + ":" + c) if f in _SITE else (c,)):
                if w > strongest.get(key, 0.0):
                    strongest[key] = w
        return self._family_sums(ev.cues), sparse_features(parts, toks), strongest

    def _gather(self, url, caption, columns, image, zero_shot):
        ev = _Evidence()
        toks: list[str] = []
        tokset: set[str] = set()
        text = ""
        parts = None
        if isinstance(caption, str) and caption:
            toks, tokset, text = self._caption_evidence(ev, caption)
        if isinstance(url, str) and url:
            parts = self._url_evidence(ev, url)  # after the caption: URL words the caption already gave count once
        if columns:
            self._column_evidence(ev, columns)
        if image:
            self._image_evidence(ev, image)
        if zero_shot:
            for c, w in zero_shot.items():
                if w and c in self._base and math.isfinite(w):
                    ev.add("zero_shot", c, round(float(w), 3), "CLIP prompts")
        return ev, toks, tokset, parts, text

    def _family_sums(self, cues: dict[tuple[str, str, str], float]) -> dict[str, float]:
        sums: dict[str, float] = {}
        get = sums.get
        for (family, c, _), w in cues.items():
            k = f"{family}:{c}"
            sums[k] = get(k, 0.0) + w
        caps = self._caps
        for k, s in sums.items():
            cap = caps[k.partition(":")[0]]
            sums[k] = cap if s > cap else (-cap if s < -cap else s)
        return sums

    def _decide(self, ev: _Evidence, toks: list[str], tokset: set[str], image: Mapping[str, Any] | None,
                parts: UrlParts | None = None, text: str = "") -> Attribution:
        best, exps, z, selfie, ranked, extra = self._judge(ev.cues, toks, tokset, image, parts)
        probs = dict(zip(self.classes, [e / z for e in exps]))
        label = self.classes[best]
        evidence = [list(e) for e in ranked]
        if extra:
            evidence += extra
        return Attribution(label=label, confidence=probs[label], probabilities=probs, selfie=selfie, evidence=evidence)

    def values(self, url: str | None = None, caption: str | None = None, columns: Mapping[str, Any] | None = None,
               image: Mapping[str, Any] | None = None, zero_shot: Mapping[str, float] | None = None) -> tuple:
        """``classify(...).values()``, without building the :class:`Attribution` (its probability dict and
        evidence lists): what index builds and labelled tables store, made for every row."""
        ev, toks, tokset, parts, _ = self._gather(url, caption, columns, image, zero_shot)
        best, exps, z, selfie, ranked, extra = self._judge(ev.cues, toks, tokset, image, parts)
        # as Attribution.values: rounded shares, the rounding residue given to the label
        probs = list(map(round6, map(truediv, exps, repeat(z))))  # round(e / z, 6) per class
        residue = 1.0 - sum(probs)
        if residue:
            probs[best] = round6(probs[best] + residue)
        if extra:
            ranked = ranked + [tuple(e) for e in extra]
        return (self.classes[best], round4(exps[best] / z), selfie, *probs, _tuples_json(ranked))

    def _judge(self, cues: dict[tuple[str, str, str], float], toks: list[str], tokset: set[str],
               image: Mapping[str, Any] | None, parts: UrlParts | None):
        """The decision both :meth:`classify` and :meth:`values` report: the label's class number, the
        softmax numerators and their sum, the selfie flag, the cues as ``(signal, class, weight, match)``
        tuples strongest first, and the entries that follow them (the model's, the selfie's)."""
        scores = self._base_list.copy()  # in class order
        capped: list[tuple[str, str, float]] = []
        if cues:
            sums: dict[tuple[str, str], float] = {}
            get = sums.get
            for (family, c, _), w in cues.items():
                k = (family, c)
                sums[k] = get(k, 0.0) + w
            caps = self._caps
            index = self._index
            for (family, c), s in sums.items():
                i = index.get(c)
                if i is not None:
                    cap = caps[family]
                    s = cap if s > cap else (-cap if s < -cap else s)
                    scores[i] += s
                    capped.append((family, c, s))
        learned_cue = None  # becomes the model's evidence entry once the label is known
        model = self.model
        if model is not None and self._model_applies(scores, cues, capped):
            # the learned model adds its corrections to the rules' scores where the rules are not decisive
            names = self._dense_names
            feats = sparse_features(parts, toks)
            delta = model.scores(feats, {names[f, c]: s for f, c, s in capped})
            rules_best = scores.index(max(scores))
            scores = list(map(add, scores, delta))
            learned_cue = True
        # the fallback wins ties; among other classes the first in taxonomy order
        best = self._fallback_index
        top = scores[best]
        for i, s in enumerate(scores):
            if s > top:
                best, top = i, s
        exps = list(map(math.exp, map(sub, scores, repeat(top))))  # exp(s - top) per class, without a comprehension's frame
        z = sum(exps)
        extra: list[list[Any]] = []
        if learned_cue is not None:
            if rules_best == self._fallback_index and exps[best] / z < THIN_MODEL_CONFIDENCE:
                # Thin evidence stays `other`: the model may move an item the rules could not place only
                # when it is fairly sure, not on a near-uniform guess.
                best = self._fallback_index
            learned_cue = _learned_cue(model, self.classes, delta, feats, best, rules_best)
            if learned_cue is not None:
                extra.append(learned_cue)
        if image or not self._selfie_words.isdisjoint(tokset):
            selfie, selfie_ev = self._selfie(toks, image, self.classes[best])
            extra += selfie_ev
        else:
            selfie = False
        # strongest first; equal weights ordered by signal, class and match, never by lookup order
        if len(cues) > 1:
            ranked = [(f, c, w, m) for _, f, c, m, w in sorted([(-abs(w), f, c, m, w) for (f, c, m), w in cues.items()])]
        else:
            ranked = [(f, c, w, m) for (f, c, m), w in cues.items()]  # weights were rounded when scaled
        return best, exps, z, selfie, ranked, extra

    def _model_applies(self, scores: list[float], cues: dict[tuple[str, str, str], float],
                       capped: list[tuple[str, str, float]]) -> bool:
        """Whether the learned model has a say on an item. Not when the item has image, metadata-column
        or zero-shot evidence (the model was trained on URL / caption rows only), nor when the rules'
        decision stands on its own: their top class leads by the trained margin, or rests on one
        near-decisive cue (a listed host, a stock agency's file name), or on what the site is (a cue of
        ``site_cue`` or more of the trained ``site_families``: listed hosts, domain-name words). The model
        is for the items whose site the rules know nothing about."""
        names = self._dense_names
        for f, c, _ in capped:
            if (f, c) not in names:
                return False
        best = max(scores)
        if self._margin != math.inf:  # the built-in model has no margin rule: no sort for every item
            ranked = sorted(scores)
            if ranked[-1] - ranked[-2] >= self._margin:
                return False
        top = self.classes[scores.index(best)]
        limit, site, site_families = self._decisive_cue, self._site_cue, self._site_families
        for (f, c, _), w in cues.items():
            if c == top and (w >= limit or (w >= site and f in site_families)):
                return False
        return True

    def _selfie(self, toks: list[str], image: Mapping[str, Any] | None, label: str) -> tuple[bool, list[list[Any]]]:
        m = self.tax.model
        found = self.tax.selfie_phrases.find(toks) if toks else []
        score = sum(w for _, _, w in found)
        framing = bool(image and image.get("img_selfie_framing"))
        if score >= m["selfie_threshold"]:
            # strongest first, then by phrase: never in the order of a (per-process salted) set
            return True, [["selfie", "caption", w, phrase] for phrase, _, w in sorted(found, key=lambda e: (-abs(e[2]), e[0]))]
        if framing and label == m.get("face_selfie_class"):
            return True, [["selfie", "image", 1.0, "one large central face"]]
        return False, []



def _pick_model(tax: Taxonomy, learned: Any) -> tuple[LearnedModel | None, str]:
    """The learned model to use with ``tax``, and why (or why not)."""
    if learned is False:
        return None, "switched off"
    if learned is None and tax.model.get("learned", True) is False:
        return None, "switched off by the taxonomy ([model] learned = false)"
    if isinstance(learned, LearnedModel):
        model, origin = learned, "given model"
    elif isinstance(learned, (str, os.PathLike)):
        try:
            model = load_model(learned)
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"cannot read learned model {learned}: {exc}") from None
        origin = f"model file {os.fspath(learned)}"
    else:
        model, origin = builtin_model(), "built-in model"
        if model is None:
            if learned is True:
                raise UsageError("no built-in learned model file: train one with scripts/train_source_model.py")
            return None, "no model file"
    if sorted(model.classes) != sorted(tax.classes):
        if learned is not None:
            raise UsageError(f"the learned model's classes {model.classes} are not the taxonomy's {tax.classes}")
        return None, f"the taxonomy's classes {tax.classes} are not the model's {model.classes}: rules only"
    return model.for_classes(tax.classes), origin


def _learned_cue(model: LearnedModel, classes: list[str], delta: list[float], feats: list[str], label: int,
                 rules_label: int) -> list[Any] | None:
    """One evidence entry for the chosen label: how far the model raised (or lowered) it against its
    mean correction, and — when the model changed the label — the features that favoured it most over
    the rules' choice."""
    w = round(delta[label] - sum(delta) / len(delta), 3)
    if label != rules_label:
        words = ", ".join(model.top_features(feats, label, rules_label)) or "rule-family weights"
    elif abs(w) < 0.05:
        return None
    else:
        words = "learned URL / caption words"
    return ["model", classes[label], w, words]


def _merge_phrases(url_phrases: PhraseIndex, caption_phrases: PhraseIndex, scale: float) -> PhraseIndex:
    """One phrase index for URL words: the URL lexicon, plus the caption lexicon at ``scale``.

    A phrase in both (same class) keeps its larger weight, so each cue is looked up once.
    """
    best: dict[tuple[tuple[str, ...], str], float] = {}
    for index, factor in ((caption_phrases, scale), (url_phrases, 1.0)):
        for key, c, w in index.entries():
            if index is caption_phrases and not _url_worthy(key):
                continue
            k = (key, c)
            if k not in best or abs(w * factor) > abs(best[k]):
                best[k] = round(w * factor, 3)
    return PhraseIndex((key, c, w) for (key, c), w in best.items())


_FILE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "gif", "webp", "svg", "bmp", "tif", "tiff", "jfif", "avif", "heic"})


def _url_worthy(key: tuple[str, ...]) -> bool:
    # URLs are full of hash fragments ("ab61", "c2", "1600x900"): caption phrases with numbers or
    # one- and two-letter words would fire on them by chance.
    return all(len(t) >= 3 and t != NUMBER and t not in _FILE_EXTENSIONS for t in key)


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
