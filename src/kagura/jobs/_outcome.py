"""Turning an answer (or an error) into an item's :class:`Outcome`: its Batch output line and state.

The output line is OpenAI's Batch output format::

    {"id": "batch_req_...", "custom_id": "q1",
     "response": {"status_code": 200, "request_id": "...", "body": {...}} | null,
     "error": {"code": "...", "message": "..."} | null}

An item is ``done`` when the endpoint answered 2xx (and, with a schema, the answer is valid JSON matching
it); otherwise ``failed``, with the reason in ``error`` and in the ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from kagura.core.llm import RawResponse
from kagura.jobs._ledger import Outcome

__all__ = ["answer_text", "failure", "outcome_of"]

Check = Callable[[Any], "str | None"]


def _line(job: str, custom_id: str, response: dict[str, Any] | None, error: dict[str, Any] | None) -> str:
    digest = hashlib.blake2b(f"{job}\0{custom_id}".encode(), digest_size=12).hexdigest()
    record = {"id": f"batch_req_{digest}", "custom_id": custom_id, "response": response, "error": error}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def answer_text(body: Any) -> str | None:
    """``choices[0].message.content`` of a chat completion body, or None."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _server_message(body: Any, status: int) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else f"HTTP {status}"


def outcome_of(job: str, custom_id: str, response: RawResponse, check: Check | None) -> Outcome:
    """The outcome of an answered item (any HTTP status that came back rather than raised); its cost is
    the usage's as priced by the client (None: the model has no price)."""
    usage = response.usage
    cost = usage.cost_usd
    answered = {"status_code": response.status_code, "request_id": response.request_id, "body": response.body}
    error: dict[str, Any] | None = None
    if not response.ok:
        error = {
            "code": f"http_{response.status_code}",
            "message": _server_message(response.body, response.status_code),
        }
    elif check is not None:
        problem = check(response.body)
        if problem is not None:
            error = {"code": "schema_validation", "message": problem}
    return Outcome(
        custom_id,
        "done" if error is None else "failed",
        _line(job, custom_id, answered, error),
        reason=None if error is None else error["message"],
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=cost,
    )


def failure(job: str, custom_id: str, exc: BaseException) -> Outcome:
    """The outcome of an item whose call raised (retries exhausted, or an error retrying cannot fix)."""
    code = type(exc).__name__
    message = str(exc) or code
    return Outcome(
        custom_id, "failed", _line(job, custom_id, None, {"code": code, "message": message}), message
    )
