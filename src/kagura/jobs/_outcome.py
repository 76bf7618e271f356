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
from typing import Any

from kagura.core.llm import RawResponse, Usage
from kagura.jobs._ledger import Outcome

__all__ = ["answer_text", "failure", "outcome_of"]


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


def outcome_of(job: str, custom_id: str, response: RawResponse, usage: Usage, invalid: str | None) -> Outcome:
    """The outcome of an answered item (any HTTP status that came back rather than raised). ``usage``
    sums every call the item took (repairs included), priced by the client (None: no price);
    ``invalid``: why a 2xx answer does not match the schema."""
    answered = {"status_code": response.status_code, "request_id": response.request_id, "body": response.body}
    error: dict[str, Any] | None = None
    if not response.ok:
        message = _server_message(response.body, response.status_code)
        error = {"code": f"http_{response.status_code}", "message": message}
    elif invalid is not None:
        error = {"code": "schema_validation", "message": invalid}
    return Outcome(
        custom_id,
        "done" if error is None else "failed",
        _line(job, custom_id, answered, error),
        reason=None if error is None else error["message"],
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
    )


def failure(job: str, custom_id: str, exc: BaseException, usage: Usage | None = None) -> Outcome:
    """The outcome of an item whose call raised (retries exhausted, or an error retrying cannot fix);
    ``usage``: what its earlier calls (repairs) took."""
    code = type(exc).__name__
    message = str(exc) or code
    usage = usage or Usage()
    line = _line(job, custom_id, None, {"code": code, "message": message})
    return Outcome(
        custom_id, "failed", line, message, usage.prompt_tokens, usage.completion_tokens, usage.cost_usd
    )
