"""Word and phrase cues looked up in a token list: one set intersection for single words, and a
short scan for multi-word phrases ("stock photo", "<n> mm" where ``<n>`` is any number)."""

from __future__ import annotations

from typing import Iterable

NUMBER = "<n>"  # in a phrase: any number ("<n> mm" matches "5mm", "5 mm", "12.5 mm")

Entry = tuple[tuple[str, ...], str, float]  # (words, class, weight)


class PhraseIndex:
    def __init__(self, entries: Iterable[Entry] = ()):
        self.singles: dict[str, list[tuple[str, float]]] = {}
        self._found: dict[str, list[tuple[str, str, float]]] = {}  # singles as find() reports them
        self.multi: dict[tuple[str, str], list[Entry]] = {}  # first two words -> phrases
        self.firsts: set[str] = set()
        self.number_firsts: set[str] = set()  # first words of phrases whose second word is <n>
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
            self._found.setdefault(key[0], []).append((key[0], cls, weight))
        else:
            self.multi.setdefault((key[0], key[1]), []).append((key, cls, weight))
            self.firsts.add(key[0])
            if key[1] == NUMBER:
                self.number_firsts.add(key[0])

    def entries(self) -> Iterable[Entry]:
        for word, cues in self.singles.items():
            for cls, w in cues:
                yield (word,), cls, w
        for table in (self.multi, self.numeric):
            for lst in table.values():
                yield from lst

    def find(self, toks: list[str], tokset: set[str] | None = None) -> list[tuple[str, str, float]]:
        """``(phrase, class, weight)`` for every phrase occurring in ``toks`` (each phrase once).

        ``tokset`` is ``set(toks)`` when the caller has it already.
        """
        if tokset is None:
            tokset = set(toks)
        found = self._found
        out = [e for tok in found.keys() & tokset for e in found[tok]]
        n = len(toks)
        if n < 2:
            return out
        # Most token lists hold no phrase opening: one C-level set test skips the work below.
        if self.firsts and not self.firsts.isdisjoint(tokset):
            multi = self.multi
            seen: set[tuple[str, ...]] = set()
            for pair in multi.keys() & set(zip(toks, toks[1:])):
                for key, cls, w in multi[pair]:
                    if key not in seen and (len(key) == 2 or _occurs(key, toks, n)):
                        seen.add(key)
                        out.append((" ".join(key), cls, w))
            if not self.number_firsts.isdisjoint(tokset):
                for i in range(n - 1):
                    if toks[i] in self.number_firsts and toks[i + 1].isdigit():
                        for key, cls, w in multi[(toks[i], NUMBER)]:
                            if key not in seen and _match(key, toks, i, n):
                                seen.add(key)
                                out.append((" ".join(key), cls, w))
        numeric = self.numeric
        if numeric and not numeric.keys().isdisjoint(tokset):
            seen = set()
            for i in range(n - 1):
                if toks[i + 1] in numeric and toks[i].isdigit():
                    for key, cls, w in numeric[toks[i + 1]]:
                        if key not in seen and _match(key, toks, i, n):
                            seen.add(key)
                            out.append((" ".join(key), cls, w))
        return out


def _occurs(key: tuple[str, ...], toks: list[str], n: int) -> bool:
    first = key[0]
    return any(_match(key, toks, i, n) for i in range(n - len(key) + 1) if toks[i] == first)


def _match(key: tuple[str, ...], toks: list[str], i: int, n: int) -> bool:
    k = len(key)
    if i + k > n:
        return False
    for j in range(k):
        want, got = key[j], toks[i + j]
        if want != got and not (want == NUMBER and got.isdigit()):
            return False
    return True
