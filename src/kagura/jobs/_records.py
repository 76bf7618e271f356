"""What the ledger stores: its numbered migrations (namespace ``"jobs"``) and the records it hands out."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["JOB_MIGRATIONS", "Claimed", "Counts", "Outcome"]

JOB_MIGRATIONS: tuple[str, ...] = (
    # 1: the items of every job
    """
    CREATE TABLE IF NOT EXISTS job_items (
        job TEXT NOT NULL,
        custom_id TEXT NOT NULL,
        line INTEGER NOT NULL,
        url TEXT NOT NULL,
        body TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        host TEXT,
        pid INTEGER,
        expires_at DOUBLE PRECISION,
        prompt_tokens BIGINT NOT NULL DEFAULT 0,
        completion_tokens BIGINT NOT NULL DEFAULT 0,
        cost_usd DOUBLE PRECISION,
        reason TEXT,
        result TEXT,
        updated_at DOUBLE PRECISION,
        PRIMARY KEY (job, custom_id)
    );
    CREATE INDEX IF NOT EXISTS job_items_state ON job_items (job, state, line);
    """,
    # 2: the raw input line each item came from, so a resume skips known lines without parsing them
    """
    ALTER TABLE job_items ADD COLUMN line_hash TEXT;
    CREATE INDEX IF NOT EXISTS job_items_line_hash ON job_items (job, line_hash);
    """,
    # 3: the output's order, read by one streamed query
    "CREATE INDEX IF NOT EXISTS job_items_order ON job_items (job, line, custom_id);",
    # 4: the provider's Batch API: which way each item went, and the batches a job made (kagura.jobs._batches)
    """
    ALTER TABLE job_items ADD COLUMN via TEXT NOT NULL DEFAULT 'online';
    ALTER TABLE job_items ADD COLUMN batch_chunk INTEGER;
    CREATE TABLE IF NOT EXISTS job_batches (
        job TEXT NOT NULL,
        chunk INTEGER NOT NULL,
        digest TEXT NOT NULL,
        since DOUBLE PRECISION NOT NULL,
        size INTEGER NOT NULL,
        handle TEXT,
        state TEXT NOT NULL DEFAULT 'intent',
        owner TEXT,
        host TEXT,
        pid INTEGER,
        updated_at DOUBLE PRECISION,
        PRIMARY KEY (job, chunk)
    );
    """,
    # 5: the digests of the input's blocks of lines, as last prepared: a resume skips unchanged blocks whole
    """
    CREATE TABLE IF NOT EXISTS job_input_blocks (
        job TEXT NOT NULL PRIMARY KEY,
        block_lines INTEGER NOT NULL,
        blocks TEXT NOT NULL
    );
    """,
    # 6: the models each block's requests name, so a dollar cap's price check skips unchanged blocks too
    "ALTER TABLE job_input_blocks ADD COLUMN models TEXT;",
)


@dataclass(frozen=True, slots=True)
class Claimed:
    """An item this worker now holds: what to send, and how many times it has been claimed."""

    custom_id: str
    url: str
    body: str
    line: int
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an item ended: ``done`` or ``failed``, its output line, reason, tokens and cost."""

    custom_id: str
    state: str
    result: str
    reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    """A job's items by state, with the tokens and dollars of the finished ones."""

    pending: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total(self) -> int:
        return self.pending + self.running + self.done + self.failed
