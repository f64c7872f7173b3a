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
        lengths = {len(w) for w in self.words}
        self._lengths = sorted(lengths, reverse=True)  # longest first
        self._min = min(lengths) if lengths else 1

    def __bool__(self) -> bool:
        return any(self.words.values())

    def find(self, name: str) -> list[tuple[str, str, float]]:
        """``(word, class, weight)`` for each word found in ``name`` (a lower-case registrable label)."""
        if not self.words:
            return []
        words = self.words
        lengths = self._lengths
        out: list[tuple[str, str, float]] = []
        for part in _LETTERS.findall(name):
            n = len(part)
            if n < self._min:
                continue
            end = 0  # matches may not start inside an earlier, longer match
            i = 0
            while i < n:
                for k in lengths:
                    j = i + k
                    if j > n:
                        continue
                    w = part[i:j]
                    if w in words and (k > SHORT or i == 0 or j == n):
                        if j > end:
                            out += [(w, c, wt) for c, wt in words[w]]
                            end = j
                        break
                i += 1
        return out
