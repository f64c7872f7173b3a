"""Words inside a registrable domain name: ``dailynorthwestern`` -> ``daily``, ``naturalk9supplies`` -> ``supplies``.

Most hosts of a web corpus are in no host list, but their names say what they are:
newspapers are called *…times*, *…herald*, *…news*; shops *…store*, *…supply*, *…direct*;
schools and churches say so. Domain names have no spaces, so words are found as substrings,
longest first at each position, and a word that lies inside a longer known word does not count
(``smartphone`` holds ``art``; listing ``smart`` as a neutral word stops it). Words of three
letters or fewer count only at an edge of the name or of a hyphen / digit-separated part
(``abctv``, ``tv-guide``, but not the ``tv`` in ``gotvshop``'s middle).
"""

from __future__ import annotations

import re
from typing import Iterable

_LETTERS = re.compile(r"[a-z]+")
SHORT = 3  # words this short must touch an edge of their part of the name


class DomainWords:
    """Finds lexicon words in domain names; each word maps to ``[(class, weight), ...]``."""

    def __init__(self, entries: Iterable[tuple[str, str, float]] = (), neutral: Iterable[str] = ()):
        self.words: dict[str, list[tuple[str, float]]] = {}
        for word in neutral:
            self.words.setdefault(word, [])
        for word, cls, weight in entries:
            self.words.setdefault(word, []).append((cls, weight))
        # every prefix of a lexicon word: the scan from a position stops as soon as no word can continue
        self._prefixes = {w[:k] for w in self.words for k in range(1, len(w) + 1)}

    def __bool__(self) -> bool:
        return any(self.words.values())

    def find(self, name: str) -> list[tuple[str, str, float]]:
        """``(word, class, weight)`` for each word found in ``name`` (a lower-case registrable label)."""
        if not self.words:
            return []
        words, prefixes = self.words, self._prefixes
        out: list[tuple[str, str, float]] = []
        for part in _LETTERS.findall(name):
            n = len(part)
            end = 0  # matches may not start inside an earlier, longer match
            for i in range(n):
                longest = 0
                j = i + 1
                while j <= n and part[i:j] in prefixes:
                    if part[i:j] in words and (j - i > SHORT or i == 0 or j == n):
                        longest = j
                    j += 1
                if longest > end:
                    w = part[i:longest]
                    out += [(w, c, wt) for c, wt in words[w]]
                    end = longest
        return out


def person_name(name: str, first_names: frozenset[str]) -> bool:
    """Whether a registrable label reads as a first name plus one more word ("janedoe", "jane-doe")."""
    flat = name.replace("-", "")
    if not flat.isascii() or not flat.isalpha():
        return False
    for k in range(min(len(flat) - 3, 12), 2, -1):
        if flat[:k] in first_names:
            return 3 <= len(flat) - k <= 14
    return False
