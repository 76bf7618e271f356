"""The OpenAI-compatible provider's non-streaming calls over the lean HTTP path (:mod:`._http`).

An answer is read as the SDK path reads it (a JSON content type is parsed, any other is text; an error
status becomes the SDK's ``Error code: N - message``), then goes through the same translation
(:mod:`._openai_wire`): the same results, error classes and messages whichever path carried the call.
"""

from __future__ import annotations

import json
from typing import Any

from kagura._redact import redact_text
from kagura.core.llm._types import LLMRequest, LLMResponse, RawResponse
from kagura.core.llm.providers._http import LeanEndpoint
from kagura.core.llm.providers._http_wire import HttpAnswer
from kagura.core.llm.providers._openai_wire import (
    finish_reason,
    parse_completion,
    request_id,
    sdk_status_message,
    status_answer,
    status_error,
    usage_of,
)
from kagura.errors import KaguraError, MalformedResponseError

__all__ = ["lean_complete", "lean_post_json"]


def _data(answer: HttpAnswer, api_key: str | None) -> Any:
    """The body of a 2xx answer: parsed JSON under a JSON content type, else the text (as the SDK)."""
    content_type = answer.headers.get("content-type", "*").split(";", 1)[0]
    if not content_type.endswith("json"):
        return answer.body.decode("utf-8", errors="replace")
    try:
        return json.loads(answer.body)
    except ValueError as exc:
        message = redact_text(str(exc), api_key)
    raise MalformedResponseError(f"the LLM server sent a response that is not valid JSON: {message}")


def _status_error(endpoint: LeanEndpoint, path: str, answer: HttpAnswer, api_key: str | None) -> KaguraError:
    detail = redact_text(sdk_status_message(answer.status, answer.body), api_key)
    return status_error(answer.status, detail, answer.headers, endpoint.url(path))


async def lean_complete(
    endpoint: LeanEndpoint, params: dict[str, Any], request: LLMRequest, provider: str
) -> LLMResponse:
    """A chat completion (``params`` without ``timeout``) as an :class:`LLMResponse` of ``provider``."""
    answer = await endpoint.post("/chat/completions", params, request.timeout)
    if not 200 <= answer.status < 300:
        raise _status_error(endpoint, "/chat/completions", answer, request.api_key)
    data = _data(answer, request.api_key)
    text, usage = parse_completion(data)
    return LLMResponse(
        text, usage, model=request.model, provider=provider, headers=answer.headers,
        finish_reason=finish_reason(data),
    )  # fmt: skip


async def lean_post_json(
    endpoint: LeanEndpoint, path: str, body: dict[str, Any], request: LLMRequest
) -> RawResponse:
    """Any JSON POST (a job's line): a final status (400, 404...) is an answer, a retryable one raises."""
    answer = await endpoint.post(path, body, request.timeout)
    if not 200 <= answer.status < 300:
        answered = status_answer(answer.status, answer.headers, answer.body)
        if answered is not None:
            return answered
        raise _status_error(endpoint, path, answer, request.api_key)
    data = _data(answer, request.api_key)
    usage = usage_of(data.get("usage") if isinstance(data, dict) else None)
    return RawResponse(answer.status, data, request_id(answer.headers, data), usage, answer.headers)
