"""Parse a wildmatch pattern (git's glob dialect) into tokens; see :mod:`kagura.loaders._wildmatch`.

A token is (kind, bytes): ``ONE`` consumes one byte from the set; ``STAR`` any run of non-slash bytes;
``ANY`` any run of bytes; ``DIRS`` zero or more whole directories (``(?:.*/)?``). A pattern git cannot
parse raises :class:`Malformed` (it then matches nothing).
"""

from __future__ import annotations

__all__ = [
    "ALL",
    "ANY",
    "DIRS",
    "ONE",
    "SLASH",
    "STAR",
    "UNBOUNDED",
    "Malformed",
    "Token",
    "literal_prefix_length",
    "tokenize",
]

SLASH = ord("/")
_SPECIAL = frozenset(b"*?[\\")
ALL = frozenset(range(1, 256)) - {SLASH}  # bytes a name component can hold

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

ONE, STAR, ANY, DIRS = "one", "star", "any", "dirs"
Token = tuple[str, frozenset[int]]
UNBOUNDED = frozenset({STAR, ANY, DIRS})


class Malformed(Exception):
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
            raise Malformed
        byte = pattern[i]
        if byte == ord("]") and not first:
            break
        first = False
        current = byte
        if byte == ord("\\"):
            i += 1
            if i >= n:
                raise Malformed
            current = pattern[i]
            members.add(current)
        elif byte == ord("-") and prev and i + 1 < n and pattern[i + 1] != ord("]"):
            i += 1
            high = pattern[i]
            if high == ord("\\"):
                i += 1
                if i >= n:
                    raise Malformed
                high = pattern[i]
            members.update(range(prev, high + 1))
            current = 0
        elif byte == ord("[") and i + 1 < n and pattern[i + 1] == ord(":"):
            close = pattern.find(b"]", i + 2)
            if close == -1:
                raise Malformed
            if close == i + 2 or pattern[close - 1] != ord(":"):
                members.add(byte)  # no ":]" before the next "]": a plain "[" member; ":" comes next
            else:
                name = pattern[i + 2 : close - 1]
                if name not in _CLASSES:
                    raise Malformed
                members.update(_CLASSES[name])
                current = 0
                i = close
        else:
            members.add(byte)
        prev = current
        i += 1
    allowed = ALL - members if negated else frozenset(members) & ALL
    return allowed, i + 1


def tokenize(pattern: bytes) -> list[Token]:
    tokens: list[Token] = []
    n = len(pattern)
    i = 0
    while i < n:
        byte = pattern[i]
        if byte == ord("\\"):
            if i + 1 >= n:
                raise Malformed  # a trailing lone backslash
            tokens.append((ONE, frozenset([pattern[i + 1]])))
            i += 2
        elif byte == ord("?"):
            tokens.append((ONE, ALL))
            i += 1
        elif byte == ord("["):
            allowed, i = _parse_class(pattern, i)
            tokens.append((ONE, allowed))
        elif byte == ord("*"):
            end = i
            while end < n and pattern[end] == ord("*"):
                end += 1
            after = pattern[end : end + 2]
            starts_component = i == 0 or pattern[i - 1] == SLASH
            ends_component = after == b"" or after[:1] == b"/" or after == b"\\/"
            if end - i >= 2 and starts_component and ends_component:
                if after[:1] == b"/":
                    tokens.append((DIRS, ALL))
                    end += 1  # the slash belongs to the "**/" token
                else:
                    tokens.append((ANY, ALL))
            else:
                tokens.append((STAR, ALL))
            i = end
        else:
            tokens.append((ONE, frozenset([byte])))
            i += 1
    return tokens
