"""Pieces of an image URL that carry source evidence: host, registrable domain, brand, path words.

The registrable domain comes from the public-suffix list bundled with ``tldextract``
(never fetched: the suffix list is read from the package snapshot), so
``img.bbc.co.uk`` gives ``bbc.co.uk`` and the brand ``bbc``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

# Runs of digits and runs of letters are separate words: "5mm" -> "5", "mm"; "gettyimages-123" -> "gettyimages", "123".
_WORD = re.compile(r"\d+|[^\W\d_]+")
_HOSTLIKE = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z]{2,}$")
_EMBEDDED = re.compile(r"https?(?::|%3a)(?:/|%2f){2}", re.I)


@dataclass(frozen=True)
class HostParts:
    host: str  # lower case, no port, no "www."
    domain: str  # registrable domain, e.g. "bbc.co.uk" ("" for IPs and bare names)
    brand: str  # the label under the public suffix, e.g. "bbc"
    subdomain: str


class UrlParts(NamedTuple):  # a tuple: made for every URL, and a frozen dataclass costs several times more
    url: str  # lower case
    host: HostParts | None
    path: str  # lower case, percent-decoded path and query
    inner: "UrlParts | None" = None  # the original image URL a proxy / CDN serves


# UrlParts from a tuple of all four fields, in C: the named tuple's own __new__ is a Python function.
_url_parts = partial(tuple.__new__, UrlParts)


@lru_cache(maxsize=1)
def _extractor():
    import tldextract

    # suffix_list_urls=() keeps tldextract offline: it uses the snapshot shipped in the wheel.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=65536)
def host_parts(host: str) -> HostParts:
    host = host.strip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    ext = _extractor()(host)
    domain = f"{ext.domain}.{ext.suffix}" if ext.domain and ext.suffix else ""
    return HostParts(host=host, domain=domain, brand=ext.domain if ext.suffix else "", subdomain=ext.subdomain)


# Percent-escapes of ASCII characters only: what URL words need, at a fraction of unquote()'s cost.
_PCT = re.compile(r"%([0-7][0-9a-f])")


def _unescape(m: re.Match) -> str:
    return chr(int(m.group(1), 16))


_SPLIT = re.compile(r"^[a-z][a-z0-9+.-]*://([^/?#]*)([^?#]*)(?:\?([^#]*))?")


def _split(low: str) -> tuple[str | None, str, str] | None:
    """(hostname, path, query) of a lower-case absolute URL; None when it cannot be split."""
    m = _SPLIT.match(low)
    if m is None or "[" in m.group(1):
        try:  # IPv6 literals and other rarities: let the standard library decide
            parts = urlsplit(low)
            return parts.hostname, parts.path, parts.query
        except ValueError:
            return None
    netloc = m.group(1).rpartition("@")[2]
    host = netloc.partition(":")[0].strip(".")
    return host or None, m.group(2), m.group(3) or ""


def parse_url(url: str | None, proxies: frozenset[str] = frozenset(), query_keys: frozenset[str] = frozenset(),
              _depth: int = 0) -> UrlParts | None:
    """Split ``url``; unwrap one level of image proxy (``i0.wp.com/site.com/x.jpg``, ``?url=...``)."""
    if not url or not isinstance(url, str):
        return None
    text = url.strip()
    if not text:
        return None
    low = text.lower()
    if "://" not in low[:12]:
        low = "http://" + low.lstrip("/")
    split = _split(low)
    if split is None:
        return _url_parts((low, None, low, None))
    hostname, raw_path, query = split
    path = raw_path + ("?" + query if query else "")
    if "%" in path:
        path = _PCT.sub(_unescape, path)
    host = host_parts(hostname) if hostname else None
    inner = None
    if _depth == 0 and host is not None:
        inner = _inner_url(host, raw_path, query, proxies, query_keys)
    return _url_parts((low, host, path, inner))


def _inner_url(host: HostParts, path: str, query: str, proxies: frozenset[str], query_keys: frozenset[str]) -> UrlParts | None:
    # An absolute URL embedded in the path or query: Yahoo / Google / weserv style resizers.
    rest = path + ("?" + query if query else "")
    if "http" in rest:
        m = _EMBEDDED.search(rest)
        if m:
            return parse_url(unquote(rest[m.start():]), _depth=1)
    if query and query_keys and (_QUERY_KEYS.get(query_keys) or _query_key_pattern(query_keys)).search(query):
        for k, v in parse_qsl(query, keep_blank_values=False):
            if k in query_keys and _HOSTLIKE.match(v.split("/")[0]):
                return parse_url(v, _depth=1)
    if host.domain in proxies:
        first = path.lstrip("/").split("/", 1)[0]
        if _HOSTLIKE.match(first) and first != host.host:
            return parse_url(path.lstrip("/"), _depth=1)
    return None


def _query_key_pattern(query_keys: frozenset[str]) -> re.Pattern:
    # parse_qsl costs microseconds: run it only on queries that name one of the keys
    rx = re.compile("(?:^|[&;])(?:" + "|".join(re.escape(k) for k in sorted(query_keys)) + ")=", re.I)
    if len(_QUERY_KEYS) < 8:
        _QUERY_KEYS[query_keys] = rx
    return rx


_QUERY_KEYS: dict[frozenset[str], re.Pattern] = {}  # a dict: lru_cache builds a key tuple on every call


# The same split for ASCII text, without a Unicode category lookup per character.
_ASCII_WORD = re.compile(r"[0-9]+|[a-z]+")


def words(text: str) -> list[str]:
    """Lower-case words: runs of letters (any script) and runs of digits."""
    return lower_words(text.lower())


def lower_words(low: str) -> list[str]:
    """:func:`words` of a text that is lower case already."""
    return (_ASCII_WORD if low.isascii() else _WORD).findall(low)


# One-letter fragments of hashes and ids ("ab61c2" -> "ab", "61", "c", "2") carry nothing in a URL:
# runs of two or more letters or digits only.
_URL_WORD = re.compile(r"\d{2,}|[^\W\d_]{2,}")
_ASCII_URL_WORD = re.compile(r"[0-9]{2,}|[a-z]{2,}")


def url_words(parts: UrlParts) -> list[str]:
    """Words of two or more characters in the sub-domain labels, the path (file name included) and the query."""
    path = parts.path
    out = (_ASCII_URL_WORD if path.isascii() else _URL_WORD).findall(path)
    if parts.host is not None and parts.host.subdomain:
        sub = parts.host.subdomain
        words = _SUBDOMAIN_WORDS.get(sub)
        if words is None:
            words = _URL_WORD.findall(sub)
            if len(_SUBDOMAIN_WORDS) < 65536:
                _SUBDOMAIN_WORDS[sub] = words
        return words + out
    return out


_SUBDOMAIN_WORDS: dict[str, list[str]] = {}  # sub-domains recur with their hosts: split each once (never mutated)
