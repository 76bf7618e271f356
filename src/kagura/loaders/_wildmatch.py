"""Git's wildmatch, byte for byte: the glob dialect of ``.gitignore`` patterns.

Written from gitignore(5) and from git's observed behaviour (the differential tests in
``tests/loaders`` compare every decision with git itself). Matching is on bytes, so names that are not
valid UTF-8 and multi-byte characters inside ``[...]`` behave exactly as in git. Case-sensitive
(git's ``core.ignorecase=false``). Always in git's ``WM_PATHNAME`` mode:

- ``?`` and ``[...]`` match one byte other than ``/``; ``*`` matches any run of bytes without ``/``.
- ``**`` (two or more stars) matches across ``/`` only when it stands alone between slashes or the ends:
  a leading ``**/`` matches any number of leading directories (none included), ``/**/`` matches zero or
  more directories, a trailing ``/**`` matches everything below. A run of stars anywhere else is one ``*``.
  A ``**`` followed by an escaped slash (``**\\/``) spans slashes but does not match "no directory".
- ``[...]``: ``!`` or ``^`` right after ``[`` negates; the first member may be ``]``; ``a-z`` ranges
  (either end may be escaped; a ``-`` first, last or right after a range is literal); POSIX classes
  ``[:alnum:]`` ``[:alpha:]`` ``[:blank:]`` ``[:cntrl:]`` ``[:digit:]`` ``[:graph:]`` ``[:lower:]``
  ``[:print:]`` ``[:punct:]`` ``[:space:]`` ``[:upper:]`` ``[:xdigit:]`` (ASCII only).
- ``\\x`` matches ``x`` literally.
- A pattern git cannot parse (a trailing lone backslash, an unterminated ``[``, an unknown class name)
  matches nothing, as in git; it never raises.

With ``split_prefix=True`` the literal run before the first special byte is compared on its own and the
glob starts after it, as git does for patterns that contain a slash; the visible effect is that a ``**``
right after that literal run counts as standing at the start (``foo**/bar`` matches ``fooX/Y/bar``).

Patterns compile to a Python regular expression; one with many unbounded parts (where a backtracking
engine can take polynomial-to-exponential time) runs on a lazily built automaton instead, linear in the
text whatever the pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kagura.loaders._wildmatch_parse import (
    ANY,
    DIRS,
    ONE,
    SLASH,
    STAR,
    UNBOUNDED,
    Malformed,
    Token,
    literal_prefix_length,
    tokenize,
)

__all__ = ["Wildmatch"]


def _regex_is_safe(tokens: list[Token]) -> bool:
    """Whether a backtracking engine stays cheap on this pattern: at most two unbounded parts, and at
    most one that crosses slashes (a ``*`` stays inside one name of at most 255 bytes; two ``**`` on a
    4,000-byte path would cost millions of steps).
    """
    unbounded = sum(kind in UNBOUNDED for kind, _ in tokens)
    crossing = sum(kind in (ANY, DIRS) for kind, _ in tokens)
    return unbounded <= 2 and crossing <= 1


def _byte_class(allowed: frozenset[int]) -> str:
    if not allowed:
        return "(?!)"
    if len(allowed) == 1:
        return re.escape(chr(next(iter(allowed))))
    parts: list[str] = []
    run_start = prev = -2
    for byte in sorted(allowed):
        if byte != prev + 1:
            if run_start >= 0:
                parts.append(_range(run_start, prev))
            run_start = byte
        prev = byte
    parts.append(_range(run_start, prev))
    return "[" + "".join(parts) + "]"


def _range(low: int, high: int) -> str:
    return f"\\x{low:02x}" if low == high else f"\\x{low:02x}-\\x{high:02x}"


# "Any byte" is written [^\x00]: names never hold NUL, so callers may append a NUL-led marker to the text.
_REGEX_OF = {STAR: "[^/\\x00]*", ANY: "[^\\x00]*", DIRS: "(?:[^\\x00]*/)?"}


def _to_source(prefix: bytes, tokens: list[Token]) -> str:
    """The pattern as regular-expression source (a str of latin-1 code points, one per byte)."""
    body = "".join(_byte_class(arg) if kind == ONE else _REGEX_OF[kind] for kind, arg in tokens)
    return re.escape(prefix.decode("latin-1")) + body


class _LazyAutomaton:
    """Matches tokens by tracking the set of token positions reachable so far, building the deterministic
    automaton lazily: each (set, byte) step is computed once and cached, so matching is one dictionary
    look-up per byte and never backtracks (time linear in the text, whatever the pattern).

    A DIRS token at position i uses two positions: i (may skip to i+1, or enter the loop) and the loop
    position ~i (consumes any byte; a "/" also leaves it for i+1).
    """

    _MAX_CACHED_STEPS = 65536  # past this the cache starts over: memory stays bounded

    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self.tokens = tokens
        self.ids: dict[frozenset[int], int] = {}
        self.sets: list[frozenset[int]] = []
        self.steps: dict[tuple[int, int], int] = {}
        self.dead = self.intern(frozenset())
        self.start = self.intern(self.closure({0}))

    def intern(self, states: frozenset[int]) -> int:
        found = self.ids.get(states)
        if found is None:
            found = self.ids[states] = len(self.sets)
            self.sets.append(states)
        return found

    def closure(self, states: set[int]) -> frozenset[int]:
        tokens, final = self.tokens, len(self.tokens)
        out = set(states)
        pending = list(states)
        while pending:
            state = pending.pop()
            if 0 <= state < final and tokens[state][0] in UNBOUNDED:
                for nxt in (state + 1, ~state) if tokens[state][0] == DIRS else (state + 1,):
                    if nxt not in out:
                        out.add(nxt)
                        pending.append(nxt)
        return frozenset(out)

    def step(self, current: int, byte: int) -> int:
        tokens, final = self.tokens, len(self.tokens)
        moved: set[int] = set()
        for state in self.sets[current]:
            if state < 0:  # inside a DIRS loop
                moved.add(state)
                if byte == SLASH:
                    moved.add(~state + 1)
            elif state < final:
                kind, allowed = tokens[state]
                if kind == ONE:
                    if byte in allowed:
                        moved.add(state + 1)
                elif kind == ANY or (kind == STAR and byte != SLASH):
                    moved.add(state)
        if len(self.steps) >= self._MAX_CACHED_STEPS:
            self.steps.clear()
        nxt = self.steps[current, byte] = self.intern(self.closure(moved))
        return nxt

    def matches(self, text: bytes) -> bool:
        state, steps, dead = self.start, self.steps, self.dead
        for byte in text:
            nxt = steps.get((state, byte))
            state = self.step(state, byte) if nxt is None else nxt
            if state == dead:
                return False
        return len(self.tokens) in self.sets[state]


@dataclass(frozen=True, slots=True, init=False)
class Wildmatch:
    """One compiled pattern; ``matches(text)`` tells whether it matches the whole of ``text`` (bytes).

    ``source`` is the equivalent regular-expression source (compile it as latin-1 bytes), for callers
    that combine many patterns into one expression; it is None when the pattern matches nothing or runs
    on the automaton (``never`` tells which).
    """

    pattern: bytes
    never: bool
    source: str | None
    _prefix: bytes
    _automaton: _LazyAutomaton
    _regex: re.Pattern[bytes] | None

    def __init__(self, pattern: bytes, *, split_prefix: bool = False) -> None:
        if not isinstance(pattern, bytes):
            raise TypeError(f"a wildmatch pattern is bytes, got {type(pattern).__name__}")
        cut = literal_prefix_length(pattern) if split_prefix else 0
        try:
            tokens = tokenize(pattern[cut:])
            never = False
        except Malformed:
            tokens, never = [], True
        source = None
        if not never and _regex_is_safe(tokens):
            source = _to_source(pattern[:cut], tokens)
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "never", never)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "_prefix", pattern[:cut])
        object.__setattr__(self, "_automaton", _LazyAutomaton(tuple(tokens)))
        object.__setattr__(self, "_regex", None if source is None else re.compile(source.encode("latin-1")))

    def matches(self, text: bytes) -> bool:
        if self._regex is not None:
            return self._regex.fullmatch(text) is not None
        return self.matches_by_automaton(text)

    def matches_by_automaton(self, text: bytes) -> bool:
        """Same answer as :meth:`matches`, always through the lazily built automaton."""
        if self.never or not text.startswith(self._prefix):
            return False
        return self._automaton.matches(text[len(self._prefix) :])
