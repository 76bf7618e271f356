"""Pass 1 of preparing a requests file: check every line, against what the ledger already holds.

The file comes in blocks of lines (:mod:`kagura.jobs._input_blocks`). A block the ledger recorded with the
same digest is only counted (:meth:`KnownLines.skip`): its lines are where the ledger has them. Any other
block is checked line by line (:meth:`KnownLines.check_block`): the ledger's items recorded from the
block's lines are read by one query, and matched in line order beside the block (a merge join on the line
number): a line whose number and raw-line hash match an item's is known, and costs one hash and one
comparison. The lines that do not match (new, moved, changed, repeated) are looked up by hash and by
custom_id, once per block, and parsed in full when new. Duplicate custom_ids are still found anywhere in
the file:

- a new or moved line repeating an id seen on an earlier such line: its 128-bit key is kept on the side
  (:class:`~kagura.jobs._repeats.Repeats`, in memory that does not grow with the file) and the repeats
  are found once the whole file is read (:meth:`KnownLines.finish`);
- one repeating the id of a matched line above it: the ledger's line for that id was matched (a bitmap;
  a skipped block marks all its lines);
- one whose id's ledger line is further down: that line, when matched, is the repeat (``ahead``; a block
  holding such a line is checked line by line, never skipped).

A new line under a custom_id the ledger already sent (or finished) with another body is a problem here
too, so the file is refused before anything is recorded or sent.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterator
from pathlib import Path

from kagura.jobs._input import JobRequest, Problem, decode_line, line_hash, parse_request
from kagura.jobs._ledger import SqlLedger
from kagura.jobs._line_ranges import LineRanges
from kagura.jobs._repeats import Repeats, id_key

__all__ = ["KnownLines", "changed_body", "parsed_line"]

MAX_SHOWN = 20


def changed_body(number: int, custom_id: str, state: str) -> str:
    """The problem of a line whose body changed under a ``custom_id`` the ledger already sent."""
    return (
        f"line {number}: custom_id {custom_id!r} is already {state} in the ledger with another body;"
        " give the changed request a new custom_id (or use another --ledger)"
    )


def parsed_line(raw: bytes, number: int, model: str | None) -> JobRequest | Problem:
    """A raw line as a request (with its raw-line hash) or a problem."""
    decoded = decode_line(raw, number)
    item = decoded if isinstance(decoded, Problem) else parse_request(decoded, number, model)
    if isinstance(item, JobRequest):
        item = dataclasses.replace(item, line_hash=line_hash(raw, model))
    return item


class _Rows:
    """The ledger's ``(line, line_hash, custom_id)`` rows of one block in line order, advanced along it."""

    def __init__(self, rows: Iterator[tuple[int, str | None, str]]) -> None:
        self.rows = rows
        self.head = next(rows, None)

    def match(self, number: int, digest: str) -> str | None:
        """The custom_id of the item recorded from line ``number`` with this hash, if any."""
        head, rows, found = self.head, self.rows, None
        while head is not None and head[0] < number:
            head = next(rows, None)
        while head is not None and head[0] == number:
            if head[1] == digest:
                found = head[2]
            head = next(rows, None)
        self.head = head
        return found


class KnownLines:
    """Feed the file's blocks in order, each to :meth:`skip` (when the ledger recorded it) or else to
    :meth:`check_block`; then :meth:`finish`, and read ``count`` (requests), ``problems``/``total``,
    ``fresh`` (the numbers
    of the lines to parse and record) and ``new_items`` (those whose custom_id the ledger lacks)."""

    def __init__(self, ledger: SqlLedger, model: str | None) -> None:
        self.ledger, self.model = ledger, model
        self.count = self.total = self.new_items = 0
        self.found: list[tuple[int, str]] = []  # the first MAX_SHOWN problems met (line, text)
        self.fresh = LineRanges()
        self.repeats = Repeats()
        self.matched = bytearray()
        self.ahead: dict[int, str] = {}
        self.ahead_lines: list[int] = []  # a heap of ahead's keys (stale ones are dropped as lines pass)
        self.moved = False
        self.models: set[str] = set()  # of the block being checked, when ``whole`` (every line parsed)
        self.whole = True

    @property
    def problems(self) -> list[str]:
        return [text for _, text in self.found]

    def _problem(self, number: int, text: str) -> None:
        self.total += 1
        if len(self.found) < MAX_SHOWN:
            self.found.append((number, text))

    def finish(self, path: Path) -> None:
        """Add the repeated custom_ids among the new lines to the problems, in line order."""
        try:
            repeats = self.repeats.lines()
        finally:
            self.repeats.close()
        if not repeats:
            return
        shown = {number for number, _ in self.found}
        repeats = [number for number in repeats if number not in shown]  # one problem per line
        self.total += len(repeats)
        wanted = set(repeats[:MAX_SHOWN])
        texts: list[tuple[int, str]] = []
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if number in wanted:
                    item = parsed_line(raw, number, self.model)
                    custom_id = item.custom_id if isinstance(item, JobRequest) else "?"
                    texts.append((number, f"line {number}: duplicate custom_id {custom_id!r}"))
                    if len(texts) == len(wanted):
                        break
        self.found = sorted([*self.found, *texts])[:MAX_SHOWN]

    def _grow(self, number: int) -> None:
        index = number >> 3
        if index >= len(self.matched):
            self.matched.extend(bytes(index + 4096 - len(self.matched)))

    def _mark(self, number: int) -> None:
        self._grow(number)
        self.matched[number >> 3] |= 1 << (number & 7)

    def _mark_range(self, first: int, last: int) -> None:
        self._grow(last)
        while first <= last and first & 7:
            self._mark(first)
            first += 1
        while last >= first and last & 7 != 7:
            self._mark(last)
            last -= 1
        if first <= last:
            self.matched[first >> 3 : (last >> 3) + 1] = b"\xff" * ((last >> 3) - (first >> 3) + 1)

    def _was_matched(self, number: int) -> bool:
        index = number >> 3
        return index < len(self.matched) and bool(self.matched[index] & (1 << (number & 7)))

    def skip(self, first: int, lines: int, requests: int) -> bool:
        """Count a block the ledger recorded (``lines`` lines from ``first``, ``requests`` of them
        requests) without reading it; False when a line of it must be checked (an id seen above)."""
        heap, last = self.ahead_lines, first + lines - 1
        while heap and heap[0] < first:
            self.ahead.pop(heapq.heappop(heap), None)
        if heap and heap[0] <= last:
            return False
        self._mark_range(first, last)
        self.count += requests
        return True

    def check_block(self, first: int, lines: list[bytes]) -> tuple[int, bool, frozenset[str] | None]:
        """Check a block line by line: its requests, whether it may be skipped next time (each line
        recorded at its own line once the file is prepared: none known under another line), and the
        models its requests name (None: some line was known and not parsed)."""
        batch = [(first + i, raw) for i, raw in enumerate(lines) if raw.strip()]
        before, self.moved = self.count, False
        self.models, self.whole = set(), True
        if batch:
            rows = self.ledger.lines_between(first, first + len(lines) - 1)
            self._check(batch, _Rows(iter(rows)))
        return self.count - before, not self.moved, frozenset(self.models) if self.whole else None

    def _check(self, batch: list[tuple[int, bytes]], rows: _Rows) -> None:
        model, match = self.model, rows.match
        hashes = [line_hash(raw, model) for _, raw in batch]
        ids = [match(number, digest) for (number, _), digest in zip(batch, hashes, strict=True)]
        misses = [i for i, custom_id in enumerate(ids) if custom_id is None]
        for (number, _), custom_id in zip(batch, ids, strict=True):
            if custom_id is not None:
                self._mark(number)
        known = self.ledger.known_lines(sorted({hashes[i] for i in misses})) if misses else {}
        parsed: dict[int, JobRequest | Problem] = {
            i: parsed_line(batch[i][1], batch[i][0], model) for i in misses if hashes[i] not in known
        }
        new_ids = sorted({p.custom_id for p in parsed.values() if isinstance(p, JobRequest)})
        in_ledger = self.ledger.items_of(new_ids) if new_ids else {}
        ahead = self.ahead
        for i, (number, _) in enumerate(batch):
            custom_id = ids[i]
            if custom_id is not None:  # a matched line: a repeat only if a line above had its id
                self.whole = False
                if ahead and ahead.pop(number, None) == custom_id:
                    self._problem(number, f"line {number}: duplicate custom_id {custom_id!r}")
                else:
                    self.count += 1
                continue
            item, held = parsed.get(i), None
            if isinstance(item, Problem):
                self._problem(number, str(item))
                continue
            if item is None:
                self.whole = False
                custom_id, at = known[hashes[i]]
                self.moved = self.moved or at != number
            else:
                custom_id, held = item.custom_id, in_ledger.get(item.custom_id)
                at = None if held is None else held[0]
            if at is not None and at < number and self._was_matched(at):
                self._problem(number, f"line {number}: duplicate custom_id {custom_id!r}")
                continue
            self.repeats.add(id_key(custom_id), number)  # a repeat of an earlier new line: found in finish()
            if at is not None and at > number:
                ahead[at] = custom_id
                heapq.heappush(self.ahead_lines, at)
            if item is not None and held is not None and held[1] != item.body_hash and held[2] != "pending":
                self._problem(number, changed_body(number, custom_id, held[2]))
                continue
            self.count += 1
            if item is not None:
                self.models.add(str(item.body.get("model")))
                self.fresh.append(number)
                self.new_items += at is None
