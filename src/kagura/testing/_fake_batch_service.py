"""The fake server's batch state: uploaded files, OpenAI batches, Anthropic message batches.

Both kinds of batch follow :func:`~kagura.testing._fake_batch_clock.progress_at` on the service's clock
(``BatchSettings.clock``, unix seconds; default :func:`time.time`). Results are computed lazily, when a
request reads the batch, by :func:`~kagura.testing._fake_batch_lines.run_line` with the server's current
responder, so a line gets what the online endpoint would answer. ``requests`` logs every batch API call
(route name, clock time) so tests can count polls.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kagura._checks import check_int
from kagura.testing._fake_batch_clock import BatchProgress, BatchTimings, progress_at
from kagura.testing._fake_batch_lines import LineOutcome, ParsedLine, Responder, parse_input_file, run_line

__all__ = ["BatchSettings", "FakeBatch", "FakeBatchService", "FakeFile", "Hold", "RequestRefused"]


@dataclass(frozen=True)
class BatchSettings:
    """How the fake server's batches behave.

    ``timings``: the phases' durations; ``clock``: unix seconds (a virtual clock in tests);
    ``enqueued_token_limit``: tokens (prompt + ``max_tokens``) one model may have in unfinished OpenAI
    batches (over it, a new batch fails with ``token_limit_exceeded``); ``fail_every``: every Nth line of
    each batch fails with HTTP 500 (partial errors).
    """

    timings: BatchTimings = field(default_factory=BatchTimings)
    clock: Callable[[], float] | None = None
    enqueued_token_limit: int | None = None
    fail_every: int | None = None
    queued_request_limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("enqueued_token_limit", "fail_every", "queued_request_limit"):
            check_int(f"BatchSettings.{name}", getattr(self, name), optional=True)


class RequestRefused(Exception):
    """A batch API request the fake answers with an HTTP error ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Hold:
    """A scripted connection loss on the next request to ``route`` (see :meth:`FakeBatchService.hold`)."""

    route: str
    after: bool
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class FakeFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: float

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": int(self.created_at),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass
class FakeBatch:
    """One batch of either kind; ``outcomes`` holds the results of its first ``len(outcomes)`` lines."""

    id: str
    kind: str  # "openai" or "anthropic"
    endpoint: str
    lines: list[ParsedLine]
    created_at: float
    metadata: dict[str, str] | None = None
    input_file_id: str = ""
    completion_window: str = "24h"
    cancel_at: float | None = None
    errors: list[dict[str, Any]] | None = None  # set: the batch failed validation at creation
    outcomes: list[LineOutcome] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    files_written: bool = False


class FakeBatchService:
    """Files and batches of one fake server. ``responder()`` gives the server's responder at call time."""

    def __init__(self, settings: BatchSettings, responder: Callable[[], Responder]) -> None:
        self.settings = settings
        self._responder = responder
        self.files: dict[str, FakeFile] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.message_batches: dict[str, FakeBatch] = {}
        self.requests: list[tuple[str, float]] = []
        self._numbers = 0
        self._holds: list[Hold] = []

    def now(self) -> float:
        return self.settings.clock() if self.settings.clock is not None else time.time()

    def log(self, route: str) -> None:
        self.requests.append((route, self.now()))

    def hold(self, route: str, *, after: bool = False) -> Hold:
        """Make the next request to ``route`` (e.g. ``"batches.create"``) lose its connection.

        It waits, with ``hold.reached`` set, until ``hold.released`` is set (kill the client meanwhile),
        then is answered 503. With ``after=False`` it is never carried out (it did not reach the server);
        with ``after=True`` it is carried out first (it did, but its answer was lost).
        """
        held = Hold(route, after)
        self._holds.append(held)
        return held

    def take_hold(self, route: str, after: bool) -> Hold | None:
        """The hold waiting for the next request to ``route`` at this point (before or after), if any."""
        for held in self._holds:
            if held.route == route and held.after == after:
                self._holds.remove(held)
                return held
        return None

    # -- files ----------------------------------------------------------------------------------------
    def add_file(self, filename: str, purpose: str, data: bytes) -> FakeFile:
        file = FakeFile(f"file-{uuid.uuid4().hex[:24]}", filename, purpose, data, self.now())
        self.files[file.id] = file
        return file

    def file(self, file_id: str) -> FakeFile:
        if file_id not in self.files:
            raise RequestRefused(404, f"No such File object: {file_id}")
        return self.files[file_id]

    # -- creation -------------------------------------------------------------------------------------
    def progress(self, batch: FakeBatch) -> BatchProgress:
        if batch.errors is not None:
            return BatchProgress("failed", 0, {"created_at": batch.created_at, "failed_at": batch.created_at})
        timings = self.settings.timings
        return progress_at(self.now(), batch.created_at, len(batch.lines), timings, batch.cancel_at)

    def enqueued_tokens(self, model: str) -> int:
        """Tokens of ``model`` in OpenAI batches that have not finished."""
        return sum(
            line.tokens
            for batch in self.batches.values()
            if not self.progress(batch).terminal
            for line in batch.lines
            if line.model == model
        )

    def create_openai(
        self, input_file_id: str, endpoint: str, window: str, metadata: dict[str, str] | None
    ) -> FakeBatch:
        file = self.file(input_file_id)
        if file.purpose != "batch":
            raise RequestRefused(400, f"File {input_file_id} has purpose {file.purpose!r}, not 'batch'.")
        lines, errors = parse_input_file(file.data, endpoint)
        batch = FakeBatch(
            f"batch_{uuid.uuid4().hex[:24]}",
            "openai",
            endpoint,
            lines,
            self.now(),
            metadata,
            input_file_id,
            window,
        )
        limit = self.settings.enqueued_token_limit
        if not errors and limit is not None:
            wanted: dict[str, int] = {}
            for line in lines:
                wanted[line.model] = wanted.get(line.model, 0) + line.tokens
            for model, tokens in wanted.items():
                if self.enqueued_tokens(model) + tokens > limit:
                    message = (
                        f"Enqueued token limit reached for {model}. Limit: {limit} enqueued tokens. "
                        "Please try again once some in_progress batches have been completed."
                    )
                    errors.append(
                        {"code": "token_limit_exceeded", "message": message, "param": None, "line": None}
                    )
                    break
        batch.errors = errors or None
        self.batches[batch.id] = batch
        return batch

    def create_anthropic(self, lines: list[ParsedLine]) -> FakeBatch:
        limit = self.settings.queued_request_limit
        if limit is not None:
            queued = sum(len(b.lines) - self.progress(b).done for b in self.message_batches.values()
                         if not self.progress(b).terminal)  # fmt: skip
            if queued + len(lines) > limit:
                raise RequestRefused(
                    429, f"Number of batch requests in the processing queue exceeds {limit}."
                )
        batch = FakeBatch(
            f"msgbatch_{uuid.uuid4().hex[:24]}", "anthropic", "/v1/chat/completions", lines, self.now()
        )
        self.message_batches[batch.id] = batch
        return batch

    def cancel(self, batch: FakeBatch) -> None:
        status = self.progress(batch).status
        if status in ("completed", "expired", "cancelled", "failed"):
            raise RequestRefused(409, f"Cannot cancel a batch with status '{status}'.")
        if batch.cancel_at is None:
            batch.cancel_at = self.now()

    # -- results --------------------------------------------------------------------------------------
    async def refresh(self, batch: FakeBatch) -> BatchProgress:
        """The batch's progress now, with the results of its done lines computed (and files written)."""
        progress = self.progress(batch)
        responder = self._responder()
        fail_every = self.settings.fail_every
        while len(batch.outcomes) < progress.done:
            index = len(batch.outcomes)
            self._numbers += 1
            if fail_every is not None and (index + 1) % fail_every == 0:
                error = {
                    "message": "fake batch line failure",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
                batch.outcomes.append(LineOutcome(500, {"error": error}))
                continue
            line = batch.lines[index]
            batch.outcomes.append(await run_line(responder, batch.endpoint, line.body, self._numbers))
        if progress.terminal and batch.kind == "openai" and not batch.files_written:
            self._write_files(batch, progress)
        return progress

    def _write_files(self, batch: FakeBatch, progress: BatchProgress) -> None:
        batch.files_written = True
        output: list[str] = []
        errors: list[str] = []
        for index, line in enumerate(batch.lines):
            record: dict[str, Any] = {"id": f"batch_req_{batch.id[6:]}_{index}", "custom_id": line.custom_id}
            if index < len(batch.outcomes):
                outcome = batch.outcomes[index]
                record["response"] = {
                    "status_code": outcome.status,
                    "request_id": f"req_{uuid.uuid4().hex[:16]}",
                    "body": outcome.body,
                }
                record["error"] = None
                (output if outcome.ok else errors).append(json.dumps(record))
            elif progress.status in ("expired", "cancelled"):
                code = "batch_expired" if progress.status == "expired" else "batch_cancelled"
                message = (
                    "This request could not be executed before the completion window expired."
                    if code == "batch_expired"
                    else "This request was cancelled with its batch."
                )
                record["response"] = None
                record["error"] = {"code": code, "message": message}
                errors.append(json.dumps(record))
        if output:
            name = f"batch_{batch.id}_output.jsonl"
            data = ("\n".join(output) + "\n").encode()
            batch.output_file_id = self.add_file(name, "batch_output", data).id
        if errors:
            name = f"batch_{batch.id}_error.jsonl"
            data = ("\n".join(errors) + "\n").encode()
            batch.error_file_id = self.add_file(name, "batch_output", data).id
