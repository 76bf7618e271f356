"""The fake server's Anthropic Message Batches routes.

- ``POST /v1/messages/batches`` with ``{"requests": [{"custom_id", "params"}, ...]}``;
- ``GET /v1/messages/batches`` (``limit``, ``after_id``, newest first), ``GET /v1/messages/batches/{id}``;
- ``POST /v1/messages/batches/{id}/cancel``;
- ``GET /v1/messages/batches/{id}/results``: JSONL, one ``{"custom_id", "result": {"type": ...}}`` per
  request, ``type`` one of ``succeeded`` (with ``message``), ``errored`` (with ``error``), ``canceled``,
  ``expired``; only once ``processing_status`` is ``ended``.

``processing_status`` is ``in_progress`` while the batch validates, runs and finalizes, ``canceling``
after a cancel, then ``ended``. Each request runs through the online chat logic, answered as a Message.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from kagura.testing._fake_batch_lines import ParsedLine, anthropic_message, to_openai
from kagura.testing._fake_batch_service import FakeBatch, FakeBatchService, RequestRefused
from kagura.testing._fake_batches import guarded, page
from kagura.testing._fake_requests import chat_estimate

__all__ = ["message_batch_routes"]

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ERROR_TYPES = {
    400: "invalid_request_error",
    404: "not_found_error",
    409: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
}


def _rfc3339(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, message: str) -> web.Response:
    kind = _ERROR_TYPES.get(status, "api_error")
    return web.json_response({"type": "error", "error": {"type": kind, "message": message}}, status=status)


def _parse_requests(body: Any) -> list[ParsedLine]:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not 1 <= len(requests) <= 100_000:
        raise RequestRefused(400, "requests: a list of 1 to 100,000 {custom_id, params} objects")
    lines: list[ParsedLine] = []
    seen: set[str] = set()
    for index, item in enumerate(requests):
        custom_id = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
            raise RequestRefused(400, f"requests.{index}.custom_id: 1-64 characters of a-z A-Z 0-9 _ -")
        if custom_id in seen:
            raise RequestRefused(400, f"requests.{index}.custom_id: {custom_id!r} is a duplicate")
        if not isinstance(item.get("params"), dict):
            raise RequestRefused(400, f"requests.{index}.params: an object of Messages parameters")
        seen.add(custom_id)
        params = item["params"]
        body = to_openai(params)
        lines.append(ParsedLine(custom_id, body, str(params.get("model", "")), chat_estimate(body)))
    return lines


def message_batch_routes(service: FakeBatchService) -> list[web.RouteDef]:
    """The Anthropic ``/v1/messages/batches`` routes over ``service``."""

    async def batch_json(batch: FakeBatch, base: str) -> dict[str, Any]:
        progress = await service.refresh(batch)
        done = batch.outcomes[: progress.done]
        ended = progress.terminal
        left = len(batch.lines) - progress.done
        stamps = progress.timestamps
        ended_at = stamps.get("completed_at") or stamps.get("expired_at") or stamps.get("cancelled_at")
        status = "ended" if ended else "canceling" if progress.status == "cancelling" else "in_progress"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": {
                "processing": 0 if ended else left,
                "succeeded": sum(o.ok for o in done),
                "errored": sum(not o.ok for o in done),
                "canceled": left if ended and progress.status == "cancelled" else 0,
                "expired": left if ended and progress.status == "expired" else 0,
            },
            "ended_at": _rfc3339(ended_at if ended else None),
            "created_at": _rfc3339(batch.created_at),
            "expires_at": _rfc3339(stamps.get("expires_at")),
            "archived_at": None,
            "cancel_initiated_at": _rfc3339(batch.cancel_at),
            "results_url": f"{base}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def base_of(request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    def find(request: web.Request) -> FakeBatch:
        batch_id = request.match_info["batch_id"]
        if batch_id not in service.message_batches:
            raise RequestRefused(404, f"No message batch with id '{batch_id}'.")
        return service.message_batches[batch_id]

    async def create(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            raise RequestRefused(400, "The body must be JSON.") from None
        batch = service.create_anthropic(_parse_requests(body))
        return web.json_response(await batch_json(batch, base_of(request)))

    async def list_batches(request: web.Request) -> web.StreamResponse:
        batches = list(reversed(service.message_batches.values()))
        chunk, more = page(
            batches, request.query.get("after_id"), request.query.get("limit"), lambda b: b.id, max_limit=1000
        )
        data = [await batch_json(b, base_of(request)) for b in chunk]
        return web.json_response(
            {
                "data": data,
                "has_more": more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def retrieve(request: web.Request) -> web.StreamResponse:
        return web.json_response(await batch_json(find(request), base_of(request)))

    async def cancel(request: web.Request) -> web.StreamResponse:
        batch = find(request)
        service.cancel(batch)
        return web.json_response(await batch_json(batch, base_of(request)))

    async def results(request: web.Request) -> web.StreamResponse:
        batch = find(request)
        progress = await service.refresh(batch)
        if not progress.terminal:
            raise RequestRefused(
                400, f"Message batch {batch.id} is still processing; results come once it ended."
            )
        response = web.StreamResponse(headers={"Content-Type": "application/binary"})
        await response.prepare(request)
        for index, line in enumerate(batch.lines):
            if index < len(batch.outcomes):
                outcome = batch.outcomes[index]
                if outcome.ok:
                    result: dict[str, Any] = {
                        "type": "succeeded",
                        "message": anthropic_message(outcome, line.model),
                    }
                else:
                    kind = "api_error" if outcome.status >= 500 else "invalid_request_error"
                    message = outcome.body["error"]["message"]
                    result = {
                        "type": "errored",
                        "error": {"type": "error", "error": {"type": kind, "message": message}},
                    }
            else:
                result = {"type": "canceled" if progress.status == "cancelled" else "expired"}
            await response.write(
                (json.dumps({"custom_id": line.custom_id, "result": result}) + "\n").encode()
            )
        await response.write_eof()
        return response

    routes = [
        ("POST", "/v1/messages/batches", "message_batches.create", create),
        ("GET", "/v1/messages/batches", "message_batches.list", list_batches),
        ("GET", "/v1/messages/batches/{batch_id}", "message_batches.retrieve", retrieve),
        ("POST", "/v1/messages/batches/{batch_id}/cancel", "message_batches.cancel", cancel),
        ("GET", "/v1/messages/batches/{batch_id}/results", "message_batches.results", results),
    ]
    return [web.route(m, path, guarded(service, name, h, _error)) for m, path, name, h in routes]
