"""The ledger: every item of a job, its state, attempts, usage, cost and result, in SQLite or PostgreSQL.

One table, ``job_items`` (namespace ``"jobs"``, numbered migrations as the RAG store's), keyed by
``(job, custom_id)`` so several jobs can share a PostgreSQL database. An item moves
``pending -> running -> done | failed``; ``running`` is a claim: the owner (host:pid:token, as ingest's
description claims), and an expiry that the owner renews while it works. Claims are taken in batches, in
input order, in one statement each (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock), so N
workers never hold one item at once. A claim that expired, or whose process died on this host, goes back
to ``pending`` (:meth:`SqlLedger.reap`): its call was in flight, and is the only kind paid twice.

The output line of a finished item (the Batch output format) is stored with its state in one
transaction, so the output file is always rebuilt from the ledger: exactly one line per custom_id.
Blocking methods; the job calls them from worker threads.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

from kagura._checks import check_seconds
from kagura._process import pid_alive
from kagura.jobs._input import JobRequest
from kagura.jobs._records import JOB_MIGRATIONS, Claimed, Counts, Outcome

__all__ = ["JOB_MIGRATIONS", "Claimed", "Counts", "Outcome", "SqlLedger"]


class SqlLedger:
    """The ledger's logic over a DB-API connection; subclasses give :meth:`_tx` and the placeholders.

    ``job`` names the job inside the database; ``owner``/``host``/``pid`` say who claims (see
    :class:`kagura.core.memory.stores._claimant.Claimant`); ``ttl`` is how long a claim lives
    unrenewed."""

    skip_locked = ""  # PostgreSQL: " FOR UPDATE SKIP LOCKED"
    location = ""

    def __init__(self, job: str, *, owner: str, host: str, pid: int, ttl: float) -> None:
        if not isinstance(job, str) or not job:
            raise ValueError(f"job must be a non-empty name, got {job!r}")
        check_seconds("ttl", ttl, allow_zero=False)
        self.job, self.owner, self.host, self.pid, self.ttl = job, owner, host, pid, ttl

    # -- backend -------------------------------------------------------------------------------------
    def _tx(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    def _executemany(self, conn: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        conn.executemany(self._sql(sql), rows)

    def close(self) -> None:
        raise NotImplementedError

    # -- input ---------------------------------------------------------------------------------------
    def register(self, items: Sequence[JobRequest]) -> list[tuple[JobRequest, str]]:
        """Record new items as pending; an unsent item whose body changed takes the new body. Returns the
        items refused: (item, state) for a changed body under a custom_id already sent."""
        if not items:
            return []
        marks = ",".join("?" * len(items))
        refused: list[tuple[JobRequest, str]] = []
        with self._tx() as conn:
            known = {
                row[0]: (row[1], row[2])
                for row in conn.execute(
                    self._sql(
                        "SELECT custom_id, body_hash, state FROM job_items"
                        f" WHERE job = ? AND custom_id IN ({marks})"
                    ),
                    (self.job, *(item.custom_id for item in items)),
                )
            }
            new, changed, relined = [], [], []
            for item in items:
                seen = known.get(item.custom_id)
                if seen is None:
                    new.append((self.job, item.custom_id, item.line, item.url, item.body_json, item.body_hash,
                                item.line_hash))  # fmt: skip
                elif seen[0] == item.body_hash:
                    relined.append((item.line, item.line_hash, self.job, item.custom_id))
                elif seen[0] != item.body_hash:
                    if seen[1] == "pending":
                        changed.append(
                            (
                                item.line,
                                item.url,
                                item.body_json,
                                item.body_hash,
                                item.line_hash,
                                self.job,
                                item.custom_id,
                            )
                        )
                    else:
                        refused.append((item, str(seen[1])))
            if new:
                self._executemany(
                    conn,
                    "INSERT INTO job_items (job, custom_id, line, url, body, body_hash, line_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (job, custom_id) DO NOTHING",
                    new,
                )
            if changed:
                self._executemany(
                    conn,
                    "UPDATE job_items SET line = ?, url = ?, body = ?, body_hash = ?, line_hash = ?"
                    " WHERE job = ? AND custom_id = ? AND state = 'pending'",
                    changed,
                )
            if relined:  # the same body from another line: remember this line, to skip it next time
                self._executemany(
                    conn,
                    "UPDATE job_items SET line = ?, line_hash = ? WHERE job = ? AND custom_id = ?",
                    relined,
                )
        return refused

    def known_lines(self, hashes: Sequence[str]) -> dict[str, tuple[str, int]]:
        """Which of these raw-line hashes the ledger holds: ``{line_hash: (custom_id, line)}``."""
        if not hashes:
            return {}
        marks = ",".join("?" * len(hashes))
        with self._tx() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT line_hash, custom_id, line FROM job_items"
                    f" WHERE job = ? AND line_hash IN ({marks})"
                ),
                (self.job, *hashes),
            ).fetchall()
        return {str(h): (str(c), int(n)) for h, c, n in rows}

    def items_of(self, custom_ids: Sequence[str]) -> dict[str, tuple[int, str, str]]:
        """What the ledger holds for each of these custom_ids it knows: ``{custom_id: (line, body_hash,
        state)}``."""
        if not custom_ids:
            return {}
        marks = ",".join("?" * len(custom_ids))
        with self._tx() as conn:
            rows = conn.execute(
                self._sql("SELECT custom_id, line, body_hash, state FROM job_items"
                          f" WHERE job = ? AND custom_id IN ({marks})"),
                (self.job, *custom_ids),
            ).fetchall()  # fmt: skip
        return {str(c): (int(n), str(h), str(s)) for c, n, h, s in rows}

    def lines_between(self, first: int, last: int) -> list[tuple[int, str | None, str]]:
        """The ``(line, line_hash, custom_id)`` of the items recorded from input lines ``first..last``, by
        line (one range of the line index)."""
        with self._tx() as conn:
            rows = conn.execute(
                self._sql("SELECT line, line_hash, custom_id FROM job_items WHERE job = ?"
                          " AND line BETWEEN ? AND ? ORDER BY line, custom_id"),
                (self.job, first, last),
            ).fetchall()  # fmt: skip
        return [(int(r[0]), r[1], str(r[2])) for r in rows]

    def retry_failed(self) -> int:
        """Put every failed item back to pending; how many."""
        with self._tx() as conn:
            cursor = conn.execute(
                self._sql("UPDATE job_items SET state = 'pending', reason = NULL, result = NULL,"
                          " cost_usd = NULL WHERE job = ? AND state = 'failed'"),
                (self.job,),
            )  # fmt: skip
            return int(cursor.rowcount or 0)

    # -- claims --------------------------------------------------------------------------------------
    def reap(self, conn: Any | None = None) -> int:
        """Return to pending the claims that expired, and those of dead processes on this host."""
        if conn is None:
            with self._tx() as tx:
                return self.reap(tx)
        now = time.time()
        owners = conn.execute(
            self._sql("SELECT DISTINCT owner, pid FROM job_items WHERE job = ? AND state = 'running'"
                      " AND host = ? AND owner <> ?"),
            (self.job, self.host, self.owner),
        ).fetchall()  # fmt: skip
        dead = [str(owner) for owner, pid in owners if pid is not None and not pid_alive(int(pid))]
        reaped = conn.execute(
            self._sql("UPDATE job_items SET state = 'pending', owner = NULL, expires_at = NULL"
                      " WHERE job = ? AND state = 'running' AND expires_at < ?"),
            (self.job, now),
        ).rowcount or 0  # fmt: skip
        for owner in dead:
            reaped += conn.execute(
                self._sql("UPDATE job_items SET state = 'pending', owner = NULL, expires_at = NULL"
                          " WHERE job = ? AND state = 'running' AND owner = ?"),
                (self.job, owner),
            ).rowcount or 0  # fmt: skip
        return int(reaped)

    def claim(self, limit: int) -> list[Claimed]:
        """Take up to ``limit`` pending items (input order) for this owner; expired claims first return."""
        now = time.time()
        with self._tx() as conn:
            self.reap(conn)
            rows = conn.execute(
                self._sql(
                    "UPDATE job_items SET state = 'running', owner = ?, host = ?, pid = ?, expires_at = ?,"
                    " attempts = attempts + 1, updated_at = ?"
                    " WHERE (job, custom_id) IN (SELECT job, custom_id FROM job_items"
                    f" WHERE job = ? AND state = 'pending' ORDER BY line LIMIT ?{self.skip_locked})"
                    " RETURNING custom_id, url, body, line, attempts"
                ),
                (self.owner, self.host, self.pid, now + self.ttl, now, self.job, limit),
            ).fetchall()
        rows.sort(key=lambda row: row[3])
        return [Claimed(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]

    def renew(self) -> None:
        """Push back the expiry of every claim this owner holds."""
        with self._tx() as conn:
            conn.execute(
                self._sql(
                    "UPDATE job_items SET expires_at = ? WHERE job = ? AND owner = ? AND state = 'running'"
                ),
                (time.time() + self.ttl, self.job, self.owner),
            )

    def release(self, custom_ids: Sequence[str] | None = None) -> None:
        """Give back claims unsent: those named, or all this owner holds."""
        with self._tx() as conn:
            base = ("UPDATE job_items SET state = 'pending', owner = NULL, expires_at = NULL,"
                    " attempts = attempts - 1 WHERE job = ? AND owner = ? AND state = 'running'")  # fmt: skip
            if custom_ids is None:
                conn.execute(self._sql(base), (self.job, self.owner))
            elif custom_ids:
                self._executemany(
                    conn, base + " AND custom_id = ?", [(self.job, self.owner, cid) for cid in custom_ids]
                )

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Record finished items (state, output line, usage, cost) in one transaction."""
        if not outcomes:
            return
        now = time.time()
        with self._tx() as conn:
            self._executemany(
                conn,
                "UPDATE job_items SET state = ?, result = ?, reason = ?, prompt_tokens = ?,"
                " completion_tokens = ?, cost_usd = ?, owner = NULL, expires_at = NULL, updated_at = ?"
                " WHERE job = ? AND custom_id = ? AND state IN ('running', 'pending')",
                [(o.state, o.result, o.reason, o.prompt_tokens, o.completion_tokens, o.cost_usd, now,
                  self.job, o.custom_id) for o in outcomes],
            )  # fmt: skip

    def unfinished_elsewhere(self) -> int:
        """Items not finished that this worker does not hold: pending ones, and those other workers claim
        (after returning the claims of the dead). A pending item :meth:`claim` skipped is counted: on
        PostgreSQL another worker's claim (or registration) may hold its row locked, uncommitted."""
        with self._tx() as conn:
            self.reap(conn)
            row = conn.execute(
                self._sql(
                    "SELECT COUNT(*) FROM job_items WHERE job = ?"
                    " AND (state = 'pending' OR (state = 'running' AND owner <> ?))"
                ),
                (self.job, self.owner),
            ).fetchone()
        return int(row[0])

    # -- reading -------------------------------------------------------------------------------------
    def states(self) -> dict[str, int]:
        """The job's items by state (``{"done": 999000, "pending": 1000}``): read from the state index
        alone, a fraction of :meth:`counts`' scan on a large job."""
        with self._tx() as conn:
            rows = conn.execute(
                self._sql("SELECT state, COUNT(*) FROM job_items WHERE job = ? GROUP BY state"), (self.job,)
            ).fetchall()
        return {str(state): int(count) for state, count in rows}

    def counts(self) -> Counts:
        """The job's items by state, and the usage and cost of the finished ones."""
        with self._tx() as conn:
            rows = conn.execute(
                self._sql("SELECT state, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_usd)"
                          " FROM job_items WHERE job = ? GROUP BY state"),
                (self.job,),
            ).fetchall()  # fmt: skip
        by_state = {str(r[0]): r for r in rows}
        finished = [by_state[s] for s in ("done", "failed") if s in by_state]
        return Counts(
            pending=int(by_state["pending"][1]) if "pending" in by_state else 0,
            running=int(by_state["running"][1]) if "running" in by_state else 0,
            done=int(by_state["done"][1]) if "done" in by_state else 0,
            failed=int(by_state["failed"][1]) if "failed" in by_state else 0,
            prompt_tokens=sum(int(r[2] or 0) for r in finished),
            completion_tokens=sum(int(r[3] or 0) for r in finished),
            cost_usd=sum(float(r[4] or 0.0) for r in finished),
        )

    _RESULTS = (
        "SELECT result FROM job_items WHERE job = ? AND state IN ('done', 'failed') ORDER BY line, custom_id"
    )

    def results(self) -> Iterator[str]:
        """The output lines of the finished items, in input order, streamed by one query on a connection
        of its own (other workers keep writing meanwhile)."""
        for row in self._stream(self._sql(self._RESULTS), (self.job,)):
            yield str(row[0])

    def _stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError
