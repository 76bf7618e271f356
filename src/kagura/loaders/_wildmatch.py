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

__all__ = ["Wildmatch"]

_SLASH = ord("/")
_SPECIAL = frozenset(b"*?[\\")
_ALL = frozenset(range(1, 256)) - {_SLASH}  # bytes a name component can hold

_CLASSES: dict[bytes, frozenset[int]] = {
    b"alnum": frozenset(b for b in range(128) if bytes([b]).isalnum()),
    b"alpha": frozenset(b for b in range(128) if bytes([b]).isalpha()),
    b"blank": frozenset(b" \t"),
    b"cntrl": frozenset([*range(32), 127]),
    b"digit": frozenset(b"0123456789"),
    b"graph": frozenset(range(33, 127)),
    b"lower": frozenset(b for b in range(128) if bytes([b]).islower()),
    b"print": frozenset(range(32, 127)),
    b"punct": frozenset(b for b in range(33, 127) if not bytes([b]).isalnum()),
    b"space": frozenset(b" \t\n\r"),
    b"upper": frozenset(b for b in range(128) if bytes([b]).isupper()),
    b"xdigit": frozenset(b"0123456789abcdefABCDEF"),
}

# Token kinds. ONE consumes one byte from a set; STAR loops on non-slash bytes; ANY loops on every byte;
# DIRS is "(?:.*/)?": zero or more whole directories.
_ONE, _STAR, _ANY, _DIRS = "one", "star", "any", "dirs"
_Token = tuple[str, frozenset[int]]
_UNBOUNDED = frozenset({_STAR, _ANY, _DIRS})


def _regex_is_safe(tokens: list[_Token]) -> bool:
    """Whether a backtracking engine stays cheap on this pattern: at most two unbounded parts, and at
    most one that crosses slashes (a ``*`` stays inside one name of at most 255 bytes; two ``**`` on a
    4,000-byte path would cost millions of steps).
    """
    unbounded = sum(kind in _UNBOUNDED for kind, _ in tokens)
    crossing = sum(kind in (_ANY, _DIRS) for kind, _ in tokens)
    return unbounded <= 2 and crossing <= 1


class _Malformed(Exception):
    """The pattern cannot be parsed; git then matches nothing with it."""


def literal_prefix_length(pattern: bytes) -> int:
    """Length of the run of ``pattern`` before its first special byte (``*``, ``?``, ``[``, ``\\``)."""
    for i, byte in enumerate(pattern):
        if byte in _SPECIAL:
            return i
    return len(pattern)


def _parse_class(pattern: bytes, i: int) -> tuple[frozenset[int], int]:
    """Parse the ``[...]`` starting at ``pattern[i] == '['``; return (member bytes, index after ``]``)."""
    n = len(pattern)
    i += 1
    negated = i < n and pattern[i] in b"!^"
    if negated:
        i += 1
    members: set[int] = set()
    prev = 0  # the previous single member, 0 after a range or a class (a "-" then is literal)
    first = True
    while True:
        if i >= n:
            raise _Malformed
        byte = pattern[i]
        if byte == ord("]") and not first:
            break
        first = False
        current = byte
        if byte == ord("\\"):
            i += 1
            if i >= n:
                raise _Malformed
            current = pattern[i]
            members.add(current)
        elif byte == ord("-") and prev and i + 1 < n and pattern[i + 1] != ord("]"):
            i += 1
            high = pattern[i]
            if high == ord("\\"):
                i += 1
                if i >= n:
                    raise _Malformed
                high = pattern[i]
            members.update(range(prev, high + 1))
            current = 0
        elif byte == ord("[") and i + 1 < n and pattern[i + 1] == ord(":"):
            close = pattern.find(b"]", i + 2)
            if close == -1:
                raise _Malformed
            if close == i + 2 or pattern[close - 1] != ord(":"):
                members.add(byte)  # no ":]" before the next "]": a plain "[" member; ":" comes next
            else:
                name = pattern[i + 2 : close - 1]
                if name not in _CLASSES:
                    raise _Malformed
                members.update(_CLASSES[name])
                current = 0
                i = close
        else:
            members.add(byte)
        prev = current
        i += 1
    allowed = _ALL - members if negated else frozenset(members) & _ALL
    return allowed, i + 1


def _tokenize(pattern: bytes) -> list[_Token]:
    tokens: list[_Token] = []
    n = len(pattern)
    i = 0
    while i < n:
        byte = pattern[i]
        if byte == ord("\\"):
            if i + 1 >= n:
                raise _Malformed  # a trailing lone backslash
            tokens.append((_ONE, frozenset([pattern[i + 1]])))
            i += 2
        elif byte == ord("?"):
            tokens.append((_ONE, _ALL))
            i += 1
        elif byte == ord("["):
            allowed, i = _parse_class(pattern, i)
            tokens.append((_ONE, allowed))
        elif byte == ord("*"):
            end = i
            while end < n and pattern[end] == ord("*"):
                end += 1
            after = pattern[end : end + 2]
            starts_component = i == 0 or pattern[i - 1] == _SLASH
            ends_component = after == b"" or after[:1] == b"/" or after == b"\\/"
            if end - i >= 2 and starts_component and ends_component:
                if after[:1] == b"/":
                    tokens.append((_DIRS, _ALL))
                    end += 1  # the slash belongs to the "**/" token
                else:
                    tokens.append((_ANY, _ALL))
            else:
                tokens.append((_STAR, _ALL))
            i = end
        else:
            tokens.append((_ONE, frozenset([byte])))
            i += 1
    return tokens


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
_REGEX_OF = {_STAR: "[^/\\x00]*", _ANY: "[^\\x00]*", _DIRS: "(?:[^\\x00]*/)?"}


def _to_source(prefix: bytes, tokens: list[_Token]) -> str:
    """The pattern as regular-expression source (a str of latin-1 code points, one per byte)."""
    body = "".join(_byte_class(arg) if kind == _ONE else _REGEX_OF[kind] for kind, arg in tokens)
    return re.escape(prefix.decode("latin-1")) + body


class _LazyAutomaton:
    """Matches tokens by tracking the set of token positions reachable so far, building the deterministic
    automaton lazily: each (set, byte) step is computed once and cached, so matching is one dictionary
    look-up per byte and never backtracks (time linear in the text, whatever the pattern).

    A DIRS token at position i uses two positions: i (may skip to i+1, or enter the loop) and the loop
    position ~i (consumes any byte; a "/" also leaves it for i+1).
    """

    _MAX_CACHED_STEPS = 65536  # past this the cache starts over: memory stays bounded

    def __init__(self, tokens: tuple[_Token, ...]) -> None:
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
            if 0 <= state < final and tokens[state][0] in _UNBOUNDED:
                for nxt in (state + 1, ~state) if tokens[state][0] == _DIRS else (state + 1,):
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
                if byte == _SLASH:
                    moved.add(~state + 1)
            elif state < final:
                kind, allowed = tokens[state]
                if kind == _ONE:
                    if byte in allowed:
                        moved.add(state + 1)
                elif kind == _ANY or (kind == _STAR and byte != _SLASH):
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
            tokens = _tokenize(pattern[cut:])
            never = False
        except _Malformed:
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
