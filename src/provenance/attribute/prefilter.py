"""Run many regular expressions fast: skip a pattern unless the literals every match needs are in the text.

A substring test costs tens of nanoseconds, a regex search about a microsecond; most
taxonomy patterns contain a literal word every match must include (``gettyimages`` in
``(?:^|[/_-])gettyimages[_-]\\d{5,}``), and most texts contain none of them. The
literals are read off the parsed pattern; a pattern without a usable literal is
always searched.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

try:  # Python >= 3.11
    from re import _constants as _c
    from re import _parser as _p
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

MIN_LITERAL = 2
DIGIT = "\x00digit"  # stands for "some decimal digit" in a requirement set
NONASCII = "\x00nonascii"  # stands for "some character beyond ASCII"


def requirements(pattern: str, flags: int = 0) -> list[frozenset[str]]:
    """Sets of strings such that every match contains one member of each set (lower case).

    ``DIGIT`` / ``NONASCII`` in a set stand for "a decimal digit" / "a non-ASCII character".
    An empty list means nothing is known and the pattern must always be searched.
    """
    try:
        found = _requirements(list(_p.parse(pattern, flags)))
    except Exception:
        return []
    out = []
    for cands in found:
        if cands and all(_usable(s) for s in cands):
            fs = frozenset(s if s in _SPECIAL else s.lower() for s in cands)
            if fs not in out:
                out.append(fs)
    # the most selective tests first: long literals, then digits / single punctuation
    out.sort(key=lambda fs: -_strength(fs))
    return out


_SPECIAL = frozenset({DIGIT, NONASCII})


def _usable(s: str) -> bool:
    # Single letters are everywhere; a single punctuation mark (#, @, $, !) is a good filter.
    return s in _SPECIAL or len(s) >= MIN_LITERAL or (len(s) == 1 and not s.isalnum() and not s.isspace())


def _strength(cands) -> int:
    # a digit requirement is weaker than a 3-letter literal, stronger than a 1-letter one
    return min(2 if s in _SPECIAL else len(s) for s in cands)


def _requirements(items: list) -> list[set[str]]:
    """Requirements (each an any-of set) of a sequence of parsed items; all of them must hold."""
    out: list[set[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        if run:
            out.append({"".join(run)})
            run = []
        if op is _c.SUBPATTERN:
            out += _requirements(list(av[-1]))
        elif op is _c.BRANCH:
            best = []
            for b in av[1]:
                reqs = [r for r in _requirements(list(b)) if all(_usable(s) for s in r)]
                if not reqs:
                    best = []
                    break
                best.append(max(reqs, key=_strength))
            if best:
                out.append(set().union(*best))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            out += _requirements(list(av[2]))
        elif op is _c.IN and av and all(o is _c.CATEGORY and a is _c.CATEGORY_DIGIT for o, a in av):
            out.append({DIGIT})
        elif op is _c.IN and av and all(o is _c.LITERAL for o, _ in av):
            out.append({chr(a) for _, a in av})
        elif op is _c.IN and av and all((o is _c.RANGE and a[0] >= 128) or (o is _c.LITERAL and a >= 128) for o, a in av):
            out.append({NONASCII})
    if run:
        out.append({"".join(run)})
    return out


_ANY_DIGIT = re.compile(r"\d")


_ONE, _ANY_OF, _DIGIT, _NONASCII, _MIXED = range(5)


def _gate(req: frozenset[str]) -> tuple[int, Any]:
    if req == {DIGIT}:
        return _DIGIT, None
    if req == {NONASCII}:
        return _NONASCII, None
    if req & _SPECIAL:
        return _MIXED, tuple(req)
    if len(req) == 1:
        return _ONE, next(iter(req))
    # one C-level scan for "any of these literals" instead of a Python loop of substring tests
    return _ANY_OF, re.compile("|".join(re.escape(s) for s in sorted(req, key=len, reverse=True))).search


MAX_GATES = 2


def _gates(rx: re.Pattern) -> tuple[tuple[int, Any], ...]:
    """The tests worth running before ``rx.search``."""
    try:
        items = list(_p.parse(rx.pattern, rx.flags))
    except Exception:
        items = []
    reqs = requirements(rx.pattern, rx.flags & ~re.I)
    # A literal every match needs ("stock ", "?", "_") is a substring test, cheaper than starting any
    # search, even one the engine would end at once.
    literals = [next(iter(r)) for r in reqs if len(r) == 1 and not r & _SPECIAL]
    literal = literals[0] if literals else None
    if items and items[0][0] is _c.AT and items[0][1] in (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING):
        # anchored at the start: the engine tries one position only, so no test worth more than that
        return ((_ONE, literal),) if literal else ()
    if items and items[0][0] is _c.LITERAL:
        # The engine finds a literal opening itself, but a substring test is cheaper still
        # than starting a search.
        prefix = []
        for op, av in items:
            if op is not _c.LITERAL:
                break
            prefix.append(chr(av))
        opening = "".join(prefix).lower()  # texts are lower case
        # "/" opens every URL's path; a "_" further on is rarer
        more = [s for s in literals if s not in opening]
        return ((_ONE, opening), (_ONE, more[0])) if more else ((_ONE, opening),)
    if items and items[0][0] is _c.IN and not all(
            (op is _c.RANGE and av[0] >= 128) or (op is _c.LITERAL and av >= 128) for op, av in items[0][1]):
        # a character class opening (other than "any non-ASCII") is scanned for by the engine itself
        return ((_ONE, literal),) if literal else ()
    reqs = requirements(rx.pattern, rx.flags & ~re.I)
    # "any of" tests with several one- or two-letter words ("st", "dr", "ct") pass on most texts
    # and cost more than they save
    reqs = [r for r in reqs if sum(1 for x in r if len(x) <= 2 and x.isalpha()) < 3]
    return tuple(_gate(r) for r in reqs[:MAX_GATES])


class PatternSet:
    """Patterns with payloads; :meth:`matches` yields ``(match, payload)`` for every pattern found in ``text``."""

    def __init__(self, entries: Sequence[tuple[re.Pattern, Any]]):
        compiled = [(rx, payload, _gates(rx)) for rx, payload in entries]
        # Patterns that need a digit go last: on a text without digits one test skips them all.
        needs = [{DIGIT} in requirements(rx.pattern, rx.flags & ~re.I) for rx, _, _ in compiled]
        self.entries = [e for e, d in zip(compiled, needs) if not d] + [e for e, d in zip(compiled, needs) if d]
        # What matches() runs: a pattern's one-literal gate as a plain substring test ("" when it has
        # none: always in the text), its other gates (rare) in the general loop.
        self._checks = [(rx.search, payload, *_split_literal(gates)) for rx, payload, gates in self.entries]
        self._without_digits = self._checks[:needs.count(False)]

    def __len__(self) -> int:
        return len(self.entries)

    def matches(self, text: str) -> list[tuple[re.Match, Any]]:
        """Patterns found in ``text``, which must be lower case (literals are compared lower-cased)."""
        found = []
        has_digit = _ANY_DIGIT.search(text) is not None
        for search, payload, literal, gates in (self._checks if has_digit else self._without_digits):
            if literal not in text:
                continue
            for kind, arg in gates:
                if kind == _ONE:
                    if arg not in text:
                        break
                elif kind == _ANY_OF:
                    if arg(text) is None:
                        break
                elif kind == _DIGIT:
                    if not has_digit:
                        break
                elif kind == _NONASCII:
                    if text.isascii():
                        break
                else:
                    if not any((has_digit if s == DIGIT else (not text.isascii()) if s == NONASCII else s in text) for s in arg):
                        break
            else:
                m = search(text)
                if m:
                    found.append((m, payload))
        return found


def _split_literal(gates: tuple[tuple[int, Any], ...]) -> tuple[str, tuple[tuple[int, Any], ...]]:
    """(the literal of the first one-literal gate, or "" when there is none; the other gates)."""
    for i, (kind, arg) in enumerate(gates):
        if kind == _ONE:
            return arg, gates[:i] + gates[i + 1:]
    return "", gates
