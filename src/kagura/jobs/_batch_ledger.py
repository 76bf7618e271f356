"""The ledger's side of the provider's Batch API: a job's batches (``job_batches``) and the items in them.

A batch goes ``intent -> submitted -> collected``:

- :meth:`BatchLedger.record_intent` (before any upload) writes the chunk (index, digest, ``since``) and,
  in the same transaction, moves its items to ``running`` under the owner ``"batch"`` (``batch_chunk`` =
  the chunk, ``via = 'batch'``, no host or pid and no expiry, so no online worker claims or reaps them);
- :meth:`BatchLedger.record_batch` stores the provider's handle once the batch exists;
- :meth:`BatchLedger.collect` applies the batch's results and returns its unanswered items (expired,
  cancelled, failed for a transient reason) to ``pending`` with ``via = 'online'``, in one transaction, then
  marks the batch ``collected``. A result is applied only to an item still held by its batch, so a result
  read twice (a crash after downloading, before committing) is applied once.

Blocking methods over a :class:`~kagura.jobs._ledger.SqlLedger`'s connection; run them from threads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kagura._process import pid_alive
from kagura.jobs._ledger import Outcome, SqlLedger

__all__ = ["BATCH_OWNER", "BatchLedger", "BatchRow", "PendingItem"]

BATCH_OWNER = "batch"
NEVER = 1e300
"""The expiry of an item held by a batch: the batch, not a claim, says when it ends."""


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One chunk of a job: its index, digest, when its intent was recorded, and its handle (once made)."""

    chunk: int
    digest: str
    since: float
    size: int
    handle: dict[str, Any] | None
    state: str
    owner: str | None = None
    host: str | None = None
    pid: int | None = None
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class PendingItem:
    """An item to put in a batch: its id, endpoint and body (JSON)."""

    custom_id: str
    url: str
    body: str


class _Taken(Exception):
    """Another worker recorded this chunk, or holds some of its items: roll the intent back."""


class BatchLedger:
    """Batch bookkeeping for ``ledger``'s job."""

    def __init__(self, ledger: SqlLedger) -> None:
        self.ledger = ledger
        self.job = ledger.job

    def _q(self, sql: str) -> str:
        return self.ledger._sql(sql)

    # -- reading -------------------------------------------------------------------------------------
    def pending(self, max_attempts: int | None = None) -> list[PendingItem]:
        """Every pending item (claimed fewer than ``max_attempts`` times, when given), in input order."""
        below = "" if max_attempts is None else " AND attempts < ?"
        args: tuple[object, ...] = (self.job,) if max_attempts is None else (self.job, max_attempts)
        with self.ledger._tx() as conn:
            rows = conn.execute(
                self._q("SELECT custom_id, url, body FROM job_items WHERE job = ? AND state = 'pending'"
                        f"{below} ORDER BY line, custom_id"),
                args,
            ).fetchall()  # fmt: skip
        return [PendingItem(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def chunk_items(self, chunk: int) -> list[PendingItem]:
        """The items a chunk holds (in input order: the order they were submitted in)."""
        with self.ledger._tx() as conn:
            rows = conn.execute(
                self._q("SELECT custom_id, url, body FROM job_items WHERE job = ? AND state = 'running'"
                        " AND owner = ? AND batch_chunk = ? ORDER BY line, custom_id"),
                (self.job, BATCH_OWNER, chunk),
            ).fetchall()  # fmt: skip
        return [PendingItem(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def batches(self) -> list[BatchRow]:
        """Every chunk of the job, in chunk order."""
        with self.ledger._tx() as conn:
            rows = conn.execute(
                self._q("SELECT chunk, digest, since, size, handle, state, owner, host, pid, updated_at"
                        " FROM job_batches WHERE job = ? ORDER BY chunk"),
                (self.job,),
            ).fetchall()  # fmt: skip
        return [
            BatchRow(int(r[0]), str(r[1]), float(r[2]), int(r[3]), None if r[4] is None else json.loads(r[4]),
                     str(r[5]), r[6], r[7], None if r[8] is None else int(r[8]), float(r[9] or 0.0))
            for r in rows
        ]  # fmt: skip

    def abandoned(self, row: BatchRow) -> bool:
        """An intent no live worker is submitting: its worker died on this host, or (another host) it was
        not updated for the claim TTL. Only those are submitted again by another worker."""
        ledger = self.ledger
        if row.owner is None or row.owner == ledger.owner:
            return True
        if row.host == ledger.host and row.pid is not None:
            return not pid_alive(row.pid)
        return time.time() - row.updated_at > ledger.ttl

    def open_batches(self) -> int:
        """Chunks not yet collected (their items are held until a batch run collects them)."""
        with self.ledger._tx() as conn:
            row = conn.execute(
                self._q("SELECT COUNT(*) FROM job_batches WHERE job = ? AND state <> 'collected'"),
                (self.job,),
            ).fetchone()
        return int(row[0])

    def batch_ids(self) -> list[str]:
        """The provider's ids of every batch this job made (``known`` for a resumed submit)."""
        return [str(row.handle["batch_id"]) for row in self.batches() if row.handle]

    def via_counts(self) -> dict[str, dict[str, Any]]:
        """Finished items by the way they went: ``{"batch": {"items", "cost_usd"}, "online": {...}}``."""
        with self.ledger._tx() as conn:
            rows = conn.execute(
                self._q("SELECT via, COUNT(*), SUM(cost_usd) FROM job_items WHERE job = ?"
                        " AND state IN ('done', 'failed') GROUP BY via"),
                (self.job,),
            ).fetchall()  # fmt: skip
        counts: dict[str, dict[str, Any]] = {v: {"items": 0, "cost_usd": 0.0} for v in ("batch", "online")}
        for via, count, cost in rows:
            counts[str(via)] = {"items": int(count), "cost_usd": round(float(cost or 0.0), 6)}
        return counts

    # -- writing -------------------------------------------------------------------------------------
    def record_intent(self, chunk: int, digest: str, since: float, custom_ids: Sequence[str]) -> bool:
        """Before any upload: the chunk, and its items held by it. False (nothing recorded) when another
        worker took some of the items, or the chunk's index, meanwhile."""
        try:
            self._record_intent(chunk, digest, since, custom_ids)
        except _Taken:
            return False
        return True

    def _record_intent(self, chunk: int, digest: str, since: float, custom_ids: Sequence[str]) -> None:
        now = time.time()
        with self.ledger._tx() as conn:
            inserted = conn.execute(
                self._q("INSERT INTO job_batches (job, chunk, digest, since, size, owner, host, pid,"
                        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (job, chunk) DO NOTHING"),
                (self.job, chunk, digest, since, len(custom_ids), self.ledger.owner, self.ledger.host,
                 self.ledger.pid, now),
            ).rowcount  # fmt: skip
            if not inserted:
                raise _Taken
            held = 0
            for custom_id in custom_ids:
                held += conn.execute(
                    self._q("UPDATE job_items SET state = 'running', owner = ?, host = NULL, pid = NULL,"
                            " expires_at = ?, batch_chunk = ?, via = 'batch', attempts = attempts + 1,"
                            " updated_at = ? WHERE job = ? AND custom_id = ? AND state = 'pending'"),
                    (BATCH_OWNER, NEVER, chunk, now, self.job, custom_id),
                ).rowcount or 0  # fmt: skip
            if held != len(custom_ids):  # another worker took some meanwhile: record nothing
                raise _Taken

    def record_batch(self, chunk: int, handle: dict[str, Any]) -> None:
        with self.ledger._tx() as conn:
            conn.execute(
                self._q("UPDATE job_batches SET handle = ?, state = 'submitted', updated_at = ?"
                        " WHERE job = ? AND chunk = ?"),
                (json.dumps(handle), time.time(), self.job, chunk),
            )  # fmt: skip

    def collect(self, chunk: int, outcomes: Sequence[Outcome]) -> list[str]:
        """Apply a batch's results (once each), give its unanswered items back to the online path, mark it
        collected: one transaction. The custom_ids given back."""
        now = time.time()
        with self.ledger._tx() as conn:
            if outcomes:
                self.ledger._executemany(
                    conn,
                    "UPDATE job_items SET state = ?, result = ?, reason = ?, prompt_tokens = ?,"
                    " completion_tokens = ?, cost_usd = ?, owner = NULL, expires_at = NULL, updated_at = ?"
                    " WHERE job = ? AND custom_id = ? AND state = 'running' AND owner = ?"
                    " AND batch_chunk = ?",
                    [(o.state, o.result, o.reason, o.prompt_tokens, o.completion_tokens, o.cost_usd, now,
                      self.job, o.custom_id, BATCH_OWNER, chunk) for o in outcomes],
                )  # fmt: skip
            back = [
                str(r[0])
                for r in conn.execute(
                    self._q("SELECT custom_id FROM job_items WHERE job = ? AND state = 'running'"
                            " AND owner = ? AND batch_chunk = ?"),
                    (self.job, BATCH_OWNER, chunk),
                ).fetchall()
            ]  # fmt: skip
            conn.execute(
                self._q("UPDATE job_items SET state = 'pending', owner = NULL, expires_at = NULL,"
                        " via = 'online', updated_at = ? WHERE job = ? AND state = 'running' AND owner = ?"
                        " AND batch_chunk = ?"),
                (now, self.job, BATCH_OWNER, chunk),
            )  # fmt: skip
            conn.execute(
                self._q(
                    "UPDATE job_batches SET state = 'collected', updated_at = ? WHERE job = ? AND chunk = ?"
                ),
                (now, self.job, chunk),
            )
        return back
