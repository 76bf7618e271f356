"""A job's input: the OpenAI Batch format or the short form, one JSON object a line, checked line by line.

::

    {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [...]}}
    {"custom_id": "e1", "method": "POST", "url": "/v1/embeddings", "body": {"model": ..., "input": "..."}}
    {"custom_id": "q2", "prompt": "Summarise ..."}                 # short form: a chat completion
    {"custom_id": "q3", "messages": [...], "model": "gpt-4o-mini"}  # short form with its own model

Each line becomes a :class:`JobRequest` (the body as it will be sent, and its hash), or a
:class:`Problem` naming the line. :func:`scan` reads any iterable of lines or dicts lazily and reports
duplicate ``custom_id``\\ s too, keeping a 128-bit hash per id (memory stays small for millions of lines).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ENDPOINTS",
    "JobRequest",
    "Problem",
    "decode_line",
    "id_hash",
    "line_hash",
    "parse_request",
    "scan",
]

ENDPOINTS = {"/v1/chat/completions": "/chat/completions", "/v1/embeddings": "/embeddings"}
"""Input ``url`` -> the path posted under the client's ``base_url`` (which ends in ``/v1``)."""

_SHORT_FIELDS = frozenset(
    {"max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop", "response_format"}
)
_BATCH_FIELDS = frozenset({"custom_id", "method", "url", "body"})


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One request of a job: ``custom_id``, the input ``url``, the ``body`` to post, its ``line`` (1-based)
    and ``body_hash`` (sha256 of the url and the canonical body: what a resume compares); ``line_hash``
    identifies the raw input line it came from (with the default model), so a resume skips known lines
    without parsing them."""

    custom_id: str
    url: str
    body: dict[str, Any]
    line: int
    body_json: str
    body_hash: str
    line_hash: str | None = None

    @property
    def path(self) -> str:
        return ENDPOINTS[self.url]


@dataclass(frozen=True, slots=True)
class Problem:
    """Why input ``line`` (1-based; 0: not a line) cannot run."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def _make(custom_id: str, url: str, body: dict[str, Any], line: int) -> JobRequest:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{url}\n{canonical}".encode()).hexdigest()
    return JobRequest(custom_id, url, body, line, canonical, digest)


def _short_body(obj: dict[str, Any], model: str | None) -> dict[str, Any] | str:
    unknown = sorted(set(obj) - {"custom_id", "prompt", "messages", "model"} - _SHORT_FIELDS)
    if unknown:
        return f"unknown field(s) {', '.join(unknown)} (short form: custom_id, prompt or messages, model)"
    if ("prompt" in obj) == ("messages" in obj):
        return "give exactly one of 'prompt' or 'messages' (or the Batch form: method, url, body)"
    if "prompt" in obj:
        if not isinstance(obj["prompt"], str) or not obj["prompt"]:
            return "'prompt' must be a non-empty string"
        messages: Any = [{"role": "user", "content": obj["prompt"]}]
    else:
        messages = obj["messages"]
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return "'messages' must be a non-empty list of message objects"
    chosen = obj.get("model", model)
    if not isinstance(chosen, str) or not chosen:
        return "'model' must be a non-empty string (or pass --model)"
    return {"model": chosen, "messages": messages, **{k: obj[k] for k in _SHORT_FIELDS if k in obj}}


def _batch_body(obj: dict[str, Any], model: str | None) -> tuple[str, dict[str, Any]] | str:
    unknown = sorted(set(obj) - _BATCH_FIELDS)
    if unknown:
        return f"unknown field(s) {', '.join(unknown)} (Batch form: custom_id, method, url, body)"
    missing = [name for name in ("method", "url", "body") if name not in obj]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    if obj["method"] != "POST":
        return f"'method' must be \"POST\", got {obj['method']!r}"
    url = obj["url"]
    if url not in ENDPOINTS:
        return f"unknown url {url!r}: use {' or '.join(ENDPOINTS)}"
    body = obj["body"]
    if not isinstance(body, dict):
        return "'body' must be a JSON object"
    if "model" not in body:
        if not model:
            return "'body' has no 'model' (add one, or pass --model)"
        body = {"model": model, **body}
    elif not isinstance(body["model"], str) or not body["model"]:
        return "'body.model' must be a non-empty string"
    if url == "/v1/chat/completions":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'body.messages' must be a non-empty list for /v1/chat/completions"
        if body.get("stream"):
            return "'body.stream' is not supported in a job"
    elif not isinstance(body.get("input"), str | list) or not body.get("input"):
        return "'body.input' must be a non-empty string or list for /v1/embeddings"
    return url, body


def parse_request(obj: Any, line: int, model: str | None = None) -> JobRequest | Problem:
    """One input object (already decoded) -> a :class:`JobRequest`, or the :class:`Problem` with it.

    ``model`` fills the short form's model (and a Batch body without one)."""
    if not isinstance(obj, dict):
        return Problem(line, f"expected a JSON object, got {type(obj).__name__}")
    custom_id = obj.get("custom_id")
    if "custom_id" not in obj:
        return Problem(line, "missing field custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return Problem(line, "'custom_id' must be a non-empty string")
    if "body" in obj or "url" in obj or "method" in obj:
        made = _batch_body(obj, model)
        if isinstance(made, str):
            return Problem(line, f"{custom_id!r}: {made}")
        return _make(custom_id, made[0], made[1], line)
    body = _short_body(obj, model)
    if isinstance(body, str):
        return Problem(line, f"{custom_id!r}: {body}")
    return _make(custom_id, "/v1/chat/completions", body, line)


def line_hash(raw: bytes, model: str | None) -> str:
    """The hash of a raw input line read with default ``model``: the same line again is the same item."""
    return hashlib.blake2b(raw.strip() + b"\0" + (model or "").encode(), digest_size=16).hexdigest()


def decode_line(raw: str | bytes | dict[str, Any], line: int) -> Any:
    """A line's JSON value, or the :class:`Problem` saying it is not JSON."""
    return _decode(raw, line)


def _decode(raw: str | bytes | dict[str, Any], line: int) -> Any:
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return Problem(line, f"not valid JSON ({exc})")


def id_hash(custom_id: str) -> int:
    """128 bits of a custom_id: what duplicate checks keep per id."""
    return _id_hash(custom_id)


def _id_hash(custom_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(custom_id.encode(), digest_size=16).digest(), "big")


def scan(
    lines: Iterable[str | bytes | dict[str, Any]],
    model: str | None = None,
    *,
    seen: set[int] | None = None,
    first_line: int = 1,
) -> Iterator[JobRequest | Problem]:
    """Each input line (text, bytes or an already decoded dict) as a :class:`JobRequest` or a
    :class:`Problem`, lazily; blank lines are skipped. A repeated ``custom_id`` is a problem on the line
    that repeats it; only a 128-bit hash of each id is kept (a false match has odds below 10^-25).
    ``seen``/``first_line`` continue a scan over several chunks of one input."""
    seen = set() if seen is None else seen
    for number, raw in enumerate(lines, start=first_line):
        if not isinstance(raw, dict) and not raw.strip():
            continue
        decoded = _decode(raw, number)
        item = decoded if isinstance(decoded, Problem) else parse_request(decoded, number, model)
        if isinstance(item, JobRequest):
            key = _id_hash(item.custom_id)
            if key in seen:
                item = Problem(number, f"duplicate custom_id {item.custom_id!r}")
            else:
                seen.add(key)
        yield item
