"""Repeated custom_ids among a file's new lines, found in memory that does not grow with the file.

Each new line's custom_id is kept as a 16-byte key (BLAKE2b-128) with its line number, appended to one of
256 partitions by the key's first byte. Past ``buffer_bytes`` in memory, the partitions are written to a
temporary file. At the end (:meth:`Repeats.lines`) each partition is read back alone (about 1/256 of the
keys) and a line whose key an earlier line had is a repeat. A 1,000,000-line file keeps 24 MB on disk and
at most ``buffer_bytes`` plus one partition's set in memory, where a set of every key held ~90 MB.
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO

__all__ = ["Repeats", "id_key"]

_RECORD = 24  # 16-byte key + 8-byte line number


def id_key(custom_id: str) -> bytes:
    """The 16 bytes a custom_id is compared by."""
    return hashlib.blake2b(custom_id.encode(), digest_size=16).digest()


class Repeats:
    """``add(key, line)`` in ascending line order, then ``lines()``; ``close()`` drops the temporary file."""

    def __init__(self, buffer_bytes: int = 4 << 20) -> None:
        if buffer_bytes < _RECORD:
            raise ValueError(f"buffer_bytes must be at least {_RECORD}, got {buffer_bytes}")
        self.buffer_bytes = buffer_bytes
        self._parts = [bytearray() for _ in range(256)]
        self._buffered = 0
        self._file: IO[bytes] | None = None
        self._chunks: list[list[tuple[int, int]]] = [[] for _ in range(256)]  # (offset, length) per part
        self.added = 0

    def add(self, key: bytes, line: int) -> None:
        part = self._parts[key[0]]
        part += key
        part += line.to_bytes(8, "little")
        self.added += 1
        self._buffered += _RECORD
        if self._buffered >= self.buffer_bytes:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="kagura-ids-")
        handle = self._file
        handle.seek(0, 2)
        for index, part in enumerate(self._parts):
            if part:
                self._chunks[index].append((handle.tell(), len(part)))
                handle.write(part)
                part.clear()
        self._buffered = 0

    def _partition(self, index: int) -> bytes:
        pieces: list[bytes] = []
        if self._file is not None:
            for offset, length in self._chunks[index]:
                self._file.seek(offset)
                pieces.append(self._file.read(length))
        pieces.append(bytes(self._parts[index]))
        return b"".join(pieces)

    def lines(self) -> list[int]:
        """The lines (ascending) whose key was added on an earlier line too."""
        repeats: list[int] = []
        for index in range(256):
            data = self._partition(index)
            seen: set[bytes] = set()
            for start in range(0, len(data), _RECORD):
                key = data[start : start + 16]
                if key in seen:
                    repeats.append(int.from_bytes(data[start + 16 : start + _RECORD], "little"))
                else:
                    seen.add(key)
        repeats.sort()
        return repeats

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
