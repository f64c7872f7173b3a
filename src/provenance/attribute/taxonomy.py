"""Load, merge and compile source taxonomies (``provenance/data/taxonomy.toml`` and user files).

A user file (TOML, or JSON of the same shape) either extends the built-in taxonomy
(``[meta] mode = "extend"``, the default: its entries are added to, or override, the
built-in ones, and it may add classes) or replaces it (``mode = "replace"``).
The format is documented at the top of the built-in file and in docs/attribution.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .domains import DomainWords
from .phrases import NUMBER, PhraseIndex
from .prefilter import PatternSet

BUILTIN = "taxonomy.toml"
NON_CLASS_TABLES = ("meta", "model", "url")
CLASS_KEYS = {"description", "prior", "prompts", "hosts", "domain_words", "url_patterns", "url_words", "words", "patterns",
              "columns", "watermarks"}
UNION_LISTS = ("domain_neutral_words", "first_names")  # [url] lists an extending file adds to
CLASS_SETTINGS = ("fallback", "face_selfie_class", "face_group_class", "sentence_cues", "person_name_class")  # [model] keys naming classes
_CLASS_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DOMAIN_WORD = re.compile(r"^[a-z]{2,40}$")
_HOST_ENTRY = re.compile(r"^\.?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")


class TaxonomyError(UsageError):
    """A taxonomy file that cannot be read or used; the message names the file and the entry."""


Cue = tuple[str, float]  # (class, weight)


@dataclass
class Taxonomy:
    """A compiled taxonomy: everything the classifier needs, in lookup-friendly form."""

    name: str
    version: str
    sources: list[str]  # "builtin" and/or user file paths, in merge order
    digest: str  # sha256 of the merged definition: identifies the label semantics
    classes: list[str]
    descriptions: dict[str, str]
    priors: dict[str, float]
    prompts: dict[str, list[str]]
    model: dict[str, Any]
    proxies: frozenset[str]
    first_names: frozenset[str]  # for sites named after a person
    query_keys: frozenset[str]
    domains: dict[str, list[Cue]]  # "cdn.shopify.com" / "gov" (suffix) -> cues
    brands: dict[str, list[Cue]]  # "gettyimages" -> cues
    domain_words: DomainWords  # words inside unlisted domain names ("...times", "...store")
    url_patterns: PatternSet  # payload: (class, weight)
    url_phrases: PhraseIndex
    phrases: PhraseIndex
    patterns: PatternSet
    columns: dict[str, list[tuple[str, float, float]]]  # column -> (class, above, weight)
    watermarks: dict[str, list[Cue]]  # compact lower-case text -> cues
    selfie_phrases: PhraseIndex
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def fallback(self) -> str:
        return self.model["fallback"]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sources": self.sources, "digest": self.digest,
                "classes": self.classes}


def builtin_path() -> Path:
    return Path(str(resources.files("provenance") / "data" / BUILTIN))


@lru_cache(maxsize=16)
def _load_cached(path: str | None, mtime: float | None) -> Taxonomy:
    base = _read(builtin_path())
    sources = ["builtin"]
    if path is not None:
        user = _read(Path(path))
        mode = str(user.get("meta", {}).get("mode", "extend"))
        if mode not in ("extend", "replace"):
            raise TaxonomyError(f"{path}: [meta] mode must be \"extend\" or \"replace\", not {mode!r}")
        if mode == "replace":
            # numeric settings carry over; settings that name built-in classes do not
            keep = {k: v for k, v in base.get("model", {}).items() if k not in CLASS_SETTINGS}
            model = {**keep, **user.get("model", {})}
            base = {**user, "model": model}
            sources = [path]
        else:
            base = _merge(base, user)
            sources.append(path)
    return _compile(base, sources, path or "builtin")


def load_taxonomy(path: str | os.PathLike | None = None) -> Taxonomy:
    """The built-in taxonomy, or the built-in one extended (or replaced) by the file at ``path``."""
    if path is None:
        return _load_cached(None, None)
    p = Path(path).expanduser().resolve()
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy file {path}: {exc.strerror or exc}") from None
    return _load_cached(str(p), mtime)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json":
            out = json.loads(data.decode("utf-8"))
        else:
            out = tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise TaxonomyError(f"taxonomy file {path} is not valid {kind}: {exc}") from None
    if not isinstance(out, dict):
        raise TaxonomyError(f"taxonomy file {path} must hold a table of classes")
    return out


def _merge(base: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for name, table in user.items():
        if name == "meta":
            meta = dict(out.get("meta", {}))
            for k in ("name", "version"):
                if k in table:
                    meta[k] = f"{meta.get(k, '')}+{table[k]}"
            out["meta"] = meta
            continue
        if not isinstance(table, dict):
            out[name] = table
            continue
        merged = dict(out.get(name, {}))
        for k, v in table.items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                sub = dict(merged[k])
                sub.update(v)
                merged[k] = sub
            elif isinstance(v, list) and isinstance(merged.get(k), list) and k == "prompts":
                merged[k] = list(v)  # prompts are a set: a user list replaces the built-in one
            elif isinstance(v, list) and isinstance(merged.get(k), list) and k in UNION_LISTS:
                merged[k] = list(dict.fromkeys([*merged[k], *v]))  # word lists: a user list adds words
            else:
                merged[k] = v
        out[name] = merged
    return out


def _num(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TaxonomyError(f"{where}: weight must be a finite number, not {value!r}")
    return float(value)


def _regex(where: str, text: str, flags: int = 0) -> re.Pattern:
    try:
        return re.compile(text, flags)
    except re.error as exc:
        raise TaxonomyError(f"{where}: invalid regular expression {text!r}: {exc}") from None


def _phrase_key(phrase: str) -> tuple[str, ...]:
    from .urls import words

    out: list[str] = []
    for part in phrase.split():
        out += [NUMBER] if part == NUMBER else words(part)
    return tuple(out)


def _add_phrase(index: PhraseIndex, where: str, phrase: str, cls: str, weight: float) -> None:
    key = _phrase_key(phrase)
    if not key:
        raise TaxonomyError(f"{where}: phrase {phrase!r} has no words")
    try:
        index.add(key, cls, weight)
    except ValueError as exc:
        raise TaxonomyError(f"{where}: phrase {phrase!r}: {exc}") from None


def _compile(raw: dict[str, Any], sources: list[str], origin: str) -> Taxonomy:
    meta = raw.get("meta", {})
    model = dict(raw.get("model", {}))
    url_cfg = raw.get("url", {})
    classes = [k for k, v in raw.items() if k not in NON_CLASS_TABLES and isinstance(v, dict)]
    if not classes:
        raise TaxonomyError(f"{origin}: the taxonomy defines no classes")
    for c in classes:
        if not _CLASS_NAME.match(c):
            raise TaxonomyError(f"{origin}: class name {c!r} must be lower-case letters, digits and _ (it names a p_{c} column)")
    fallback = model.get("fallback", "other")
    if fallback not in classes:
        raise TaxonomyError(f"{origin}: [model] fallback class {fallback!r} is not one of the classes {classes}")
    model.setdefault("fallback", fallback)
    defaults = {"prior_weight": 1.0, "fallback_score": 1.5, "url_words_scale": 0.6, "zero_shot_weight": 0.8,
                "zero_shot_temperature": 100.0, "face_selfie_weight": 1.0, "face_group_weight": 0.0,
                "selfie_threshold": 1.5, "sentence_min_words": 8, "sentence_min_function_words": 3,
                "person_name_weight": 1.0}
    for k, v in defaults.items():
        model[k] = _num(f"{origin}: [model] {k}", model.get(k, v))
    if not isinstance(model.get("learned", True), bool):
        raise TaxonomyError(f"{origin}: [model] learned must be true or false, not {model['learned']!r}")
    model.setdefault("caps", {})
    for k, v in model["caps"].items():
        _num(f"{origin}: [model] caps.{k}", v)
    model["sentence_function_words"] = frozenset(_word_list(origin, "sentence_function_words", model.get("sentence_function_words", [])))
    cues = model.get("sentence_cues") or {}
    if not isinstance(cues, dict) or any(c not in classes for c in cues):
        raise TaxonomyError(f"{origin}: [model] sentence_cues must map classes to weights (classes: {classes})")
    model["sentence_cues"] = {c: _num(f"{origin}: [model] sentence_cues.{c}", w) for c, w in cues.items()}
    for key in ("face_selfie_class", "face_group_class", "person_name_class"):
        if model.get(key) is not None and model[key] not in classes:
            raise TaxonomyError(f"{origin}: [model] {key} {model[key]!r} is not a class")

    domains: dict[str, list[Cue]] = {}
    brands: dict[str, list[Cue]] = {}
    url_patterns, patterns = [], []
    domain_entries: list[tuple[str, str, float]] = []
    url_phrases = PhraseIndex()
    phrases = PhraseIndex()
    columns: dict[str, list] = {}
    watermarks: dict[str, list[Cue]] = {}
    priors, prompts, descriptions = {}, {}, {}
    for c in classes:
        t = raw[c]
        unknown = set(t) - CLASS_KEYS
        if unknown:
            raise TaxonomyError(f"{origin}: [{c}] has unknown key(s) {sorted(unknown)}; known: {sorted(CLASS_KEYS)}")
        prior = _num(f"{origin}: [{c}] prior", t.get("prior", 0.05))
        if prior <= 0:
            raise TaxonomyError(f"{origin}: [{c}] prior must be > 0")
        priors[c] = prior
        descriptions[c] = str(t.get("description", ""))
        p = t.get("prompts", [])
        if not isinstance(p, list) or not all(isinstance(x, str) and x.strip() for x in p):
            raise TaxonomyError(f"{origin}: [{c}] prompts must be a list of non-empty strings")
        prompts[c] = list(p)
        for host, w in _table(origin, c, t, "hosts").items():
            h = host.strip().lower()
            if not _HOST_ENTRY.match(h):
                raise TaxonomyError(f"{origin}: [{c}.hosts] {host!r} is not a domain, .suffix or brand name")
            cue = (c, _num(f"{origin}: [{c}.hosts] {host!r}", w))
            if h.startswith("."):
                domains.setdefault(h[1:], []).append(cue)
            elif "." in h:
                domains.setdefault(h, []).append(cue)
            else:
                brands.setdefault(h, []).append(cue)
        for word, w in _table(origin, c, t, "domain_words").items():
            if not _DOMAIN_WORD.match(word):
                raise TaxonomyError(f"{origin}: [{c}.domain_words] {word!r} must be lower-case letters a-z")
            domain_entries.append((word, c, _num(f"{origin}: [{c}.domain_words] {word!r}", w)))
        for pat, w in _table(origin, c, t, "url_patterns").items():
            url_patterns.append((_regex(f"{origin}: [{c}.url_patterns]", pat), (c, _num(f"{origin}: [{c}.url_patterns] {pat!r}", w))))
        for phrase, w in _table(origin, c, t, "url_words").items():
            _add_phrase(url_phrases, f"{origin}: [{c}.url_words]", phrase, c, _num(f"{origin}: [{c}.url_words] {phrase!r}", w))
        for phrase, w in _table(origin, c, t, "words").items():
            _add_phrase(phrases, f"{origin}: [{c}.words]", phrase, c, _num(f"{origin}: [{c}.words] {phrase!r}", w))
        for pat, w in _table(origin, c, t, "patterns").items():
            patterns.append((_regex(f"{origin}: [{c}.patterns]", pat, re.I), (c, _num(f"{origin}: [{c}.patterns] {pat!r}", w))))
        for col, spec in _table(origin, c, t, "columns").items():
            if not isinstance(spec, dict) or "weight" not in spec:
                raise TaxonomyError(f"{origin}: [{c}.columns.{col}] needs weight (and optionally above)")
            above = _num(f"{origin}: [{c}.columns.{col}] above", spec.get("above", 0.5))
            if not 0 <= above < 1:
                raise TaxonomyError(f"{origin}: [{c}.columns.{col}] above must be in [0, 1)")
            columns.setdefault(col.lower(), []).append((c, above, _num(f"{origin}: [{c}.columns.{col}] weight", spec["weight"])))
        for text, w in _table(origin, c, t, "watermarks").items():
            key = compact(text)
            if not key:
                raise TaxonomyError(f"{origin}: [{c}.watermarks] {text!r} has no letters or digits")
            watermarks.setdefault(key, []).append((c, _num(f"{origin}: [{c}.watermarks] {text!r}", w)))
    selfie_phrases = PhraseIndex()
    for phrase, w in (model.get("selfie_words") or {}).items():
        _add_phrase(selfie_phrases, f"{origin}: [model] selfie_words", phrase, "selfie", _num(f"{origin}: [model] selfie_words {phrase!r}", w))
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    return Taxonomy(
        name=str(meta.get("name", "custom")), version=str(meta.get("version", "0")), sources=sources, digest=digest,
        classes=classes, descriptions=descriptions, priors=priors, prompts=prompts, model=model,
        proxies=frozenset(str(h).lower() for h in url_cfg.get("path_proxies", [])),
        first_names=frozenset(w for w in _url_word_list(origin, url_cfg, "first_names") if len(w) >= 3),
        query_keys=frozenset(str(k).lower() for k in url_cfg.get("query_keys", [])),
        domains=domains, brands=brands, domain_words=DomainWords(domain_entries, _neutral(origin, url_cfg)),
        url_patterns=PatternSet(url_patterns), url_phrases=url_phrases, phrases=phrases,
        patterns=PatternSet(patterns), columns=columns, watermarks=watermarks, selfie_phrases=selfie_phrases, raw=raw,
    )


def _word_list(origin: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        raise TaxonomyError(f"{origin}: [model] {key} must be a list of words")
    return [w.strip().lower() for w in value]


def _neutral(origin: str, url_cfg: dict) -> list[str]:
    return _url_word_list(origin, url_cfg, "domain_neutral_words")


def _url_word_list(origin: str, url_cfg: dict, key: str) -> list[str]:
    words = url_cfg.get(key, [])
    if not isinstance(words, list) or not all(isinstance(w, str) and _DOMAIN_WORD.match(w) for w in words):
        raise TaxonomyError(f"{origin}: [url] {key} must be a list of lower-case words a-z")
    return words


def _table(origin: str, cls: str, t: dict, key: str) -> dict:
    value = t.get(key, {})
    if not isinstance(value, dict):
        raise TaxonomyError(f"{origin}: [{cls}.{key}] must be a table of entry = weight")
    return value


def compact(text: str) -> str:
    """Lower-case letters and digits only: how OCR text and watermark names are compared."""
    return "".join(ch for ch in text.lower() if ch.isalnum())
