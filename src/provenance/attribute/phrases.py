"""Word and phrase cues looked up in a token list: one set intersection for single words, and a
short scan for multi-word phrases ("stock photo", "<n> mm" where ``<n>`` is any number)."""

from __future__ import annotations

from typing import Iterable

NUMBER = "<n>"  # in a phrase: any number ("<n> mm" matches "5mm", "5 mm", "12.5 mm")

Entry = tuple[tuple[str, ...], str, float]  # (words, class, weight)


class PhraseIndex:
    def __init__(self, entries: Iterable[Entry] = ()):
        self.singles: dict[str, list[tuple[str, float]]] = {}
        self.multi: dict[tuple[str, str], list[Entry]] = {}  # first two words -> phrases
        self.firsts: set[str] = set()
        self.numeric: dict[str, list[Entry]] = {}  # phrases opening with a number, by their second word
        for e in entries:
            self.add(*e)

    def add(self, key: tuple[str, ...], cls: str, weight: float) -> None:
        if not key:
            raise ValueError("empty phrase")
        if key[0] == NUMBER:
            if len(key) < 2 or key[1] == NUMBER:
                raise ValueError(f"a phrase must have a word after {NUMBER}")
            self.numeric.setdefault(key[1], []).append((key, cls, weight))
        elif len(key) == 1:
            self.singles.setdefault(key[0], []).append((cls, weight))
        else:
            self.multi.setdefault((key[0], key[1]), []).append((key, cls, weight))
            self.firsts.add(key[0])

    def entries(self) -> Iterable[Entry]:
        for word, cues in self.singles.items():
            for cls, w in cues:
                yield (word,), cls, w
        for table in (self.multi, self.numeric):
            for lst in table.values():
                yield from lst

    def find(self, toks: list[str]) -> list[tuple[str, str, float]]:
        """``(phrase, class, weight)`` for every phrase occurring in ``toks`` (each phrase once)."""
        out = []
        singles = self.singles
        for tok in singles.keys() & set(toks):
            for cls, w in singles[tok]:
                out.append((tok, cls, w))
        n = len(toks)
        if self.multi and n > 1:
            multi, firsts = self.multi, self.firsts
            seen = set()
            for i in [i for i in range(n - 1) if toks[i] in firsts]:
                nxt = toks[i + 1]
                cands = multi.get((toks[i], nxt))
                if nxt.isdigit():
                    more = multi.get((toks[i], NUMBER))
                    if more:
                        cands = more if not cands else cands + more
                if not cands:
                    continue
                for key, cls, w in cands:
                    if key not in seen and (len(key) == 2 or _match(key, toks, i, n)):
                        seen.add(key)
                        out.append((" ".join(key), cls, w))
        if self.numeric and n > 1:
            numeric = self.numeric
            seen = set()
            for i in [i for i in range(n - 1) if toks[i + 1] in numeric and toks[i].isdigit()]:
                for key, cls, w in numeric[toks[i + 1]]:
                    if key not in seen and _match(key, toks, i, n):
                        seen.add(key)
                        out.append((" ".join(key), cls, w))
        return out


def _match(key: tuple[str, ...], toks: list[str], i: int, n: int) -> bool:
    k = len(key)
    if i + k > n:
        return False
    for j in range(k):
        want, got = key[j], toks[i + j]
        if want != got and not (want == NUMBER and got.isdigit()):
            return False
    return True
