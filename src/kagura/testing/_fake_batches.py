"""The fake server's OpenAI Files and Batch API routes.

- ``POST /v1/files`` (multipart: ``file`` and ``purpose``), ``GET /v1/files`` (``purpose``, ``after``,
  ``limit``, newest first), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``;
- ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``, ``metadata``),
  ``GET /v1/batches`` (``after``, ``limit``, newest first), ``GET /v1/batches/{id}``,
  ``POST /v1/batches/{id}/cancel``.

A batch whose input file does not validate, or whose tokens would pass the enqueued-token limit, is
created ``failed`` with OpenAI's ``errors`` (``token_limit_exceeded`` for the latter). Output and error
files are in OpenAI's batch output format, one line per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kagura.testing._fake_batch_service import FakeBatch, FakeBatchService, Hold, RequestRefused
from kagura.testing._fake_wire import error_response

__all__ = ["batch_routes", "guarded", "page"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_WINDOWS = ("24h",)


def page(
    items: list[Any],
    after: str | None,
    limit_text: str | None,
    id_of: Callable[[Any], str],
    *,
    max_limit: int = 100,
) -> tuple[list[Any], bool]:
    """One page of ``items`` (newest first) after the item with id ``after``; and whether more follow."""
    try:
        limit = int(limit_text) if limit_text is not None else 20
    except ValueError:
        raise RequestRefused(400, f"limit must be an integer, got {limit_text!r}") from None
    if not 1 <= limit <= max_limit:
        raise RequestRefused(400, f"limit must be between 1 and {max_limit}")
    start = 0
    if after:
        ids = [id_of(item) for item in items]
        if after not in ids:
            raise RequestRefused(400, f"after={after!r} is not an id of this list")
        start = ids.index(after) + 1
    chunk = items[start : start + limit]
    return chunk, start + limit < len(items)


def _openai_error(status: int, message: str) -> web.Response:
    return error_response(status, None, message)


def guarded(
    service: FakeBatchService,
    route: str,
    handler: Handler,
    error: Callable[[int, str], web.Response] = _openai_error,
) -> Handler:
    """``handler`` logged in ``service.requests`` as ``route``, its :class:`RequestRefused` as ``error``."""

    async def lose(held: Hold) -> web.Response:
        held.reached.set()
        await held.released.wait()
        return error(503, "the connection was lost (a scripted hold)")

    async def run(request: web.Request) -> web.StreamResponse:
        service.log(route)
        held = service.take_hold(route, after=False)
        if held is not None:
            return await lose(held)
        try:
            response = await handler(request)
        except RequestRefused as exc:
            response = error(exc.status, exc.message)
        held = service.take_hold(route, after=True)
        return response if held is None else await lose(held)

    return run


def batch_routes(service: FakeBatchService) -> list[web.RouteDef]:
    """The OpenAI ``/v1/files`` and ``/v1/batches`` routes over ``service``."""

    async def batch_json(batch: FakeBatch) -> dict[str, Any]:
        progress = await service.refresh(batch)
        done = batch.outcomes[: progress.done]
        stamps = {name: int(at) for name, at in progress.timestamps.items()}
        body: dict[str, Any] = {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "input_file_id": batch.input_file_id,
            "completion_window": batch.completion_window,
            "status": progress.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "metadata": batch.metadata,
            "request_counts": {
                "total": len(batch.lines),
                "completed": sum(o.ok for o in done),
                "failed": sum(not o.ok for o in done),
            },
        }
        for name in (
            "in_progress_at",
            "finalizing_at",
            "completed_at",
            "failed_at",
            "expired_at",
            "cancelling_at",
            "cancelled_at",
        ):
            body[name] = stamps.get(name)
        body["created_at"] = stamps["created_at"]
        body["expires_at"] = stamps.get("expires_at")
        return body

    def find(batch_id: str) -> FakeBatch:
        if batch_id not in service.batches:
            raise RequestRefused(404, f"No batch found with id '{batch_id}'.")
        return service.batches[batch_id]

    async def upload(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, web.FileField):
            raise RequestRefused(400, "Missing required parameter: 'file' (multipart upload).")
        if not isinstance(purpose, str) or not purpose:
            raise RequestRefused(400, "Missing required parameter: 'purpose'.")
        data = upload.file.read()
        if purpose == "batch" and len(data) > 200 * 2**20:
            raise RequestRefused(400, "A batch input file may be at most 200 MB.")
        return web.json_response(service.add_file(upload.filename or "upload", purpose, data).json())

    async def list_files(request: web.Request) -> web.StreamResponse:
        purpose = request.query.get("purpose")
        files = [f for f in reversed(service.files.values()) if purpose is None or f.purpose == purpose]
        chunk, more = page(files, request.query.get("after"), request.query.get("limit"), lambda f: f.id)
        data = [f.json() for f in chunk]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "has_more": more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def get_file(request: web.Request) -> web.StreamResponse:
        return web.json_response(service.file(request.match_info["file_id"]).json())

    async def file_content(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=service.file(request.match_info["file_id"]).data, content_type="application/octet-stream"
        )

    async def create(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            raise RequestRefused(400, "The body must be JSON.") from None
        if not isinstance(body, dict) or not isinstance(body.get("input_file_id"), str):
            raise RequestRefused(400, "Missing required parameter: 'input_file_id'.")
        if body.get("endpoint") not in ("/v1/chat/completions", "/v1/embeddings"):
            raise RequestRefused(400, f"Unsupported endpoint {body.get('endpoint')!r}.")
        if body.get("completion_window") not in _WINDOWS:
            raise RequestRefused(400, "completion_window must be '24h'.")
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or len(metadata) > 16
            or not all(
                isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
                for k, v in metadata.items()
            )
        ):
            raise RequestRefused(400, "metadata: at most 16 string pairs (keys <= 64, values <= 512 chars).")
        batch = service.create_openai(
            body["input_file_id"], body["endpoint"], body["completion_window"], metadata
        )
        return web.json_response(await batch_json(batch))

    async def list_batches(request: web.Request) -> web.StreamResponse:
        batches = list(reversed(service.batches.values()))
        chunk, more = page(batches, request.query.get("after"), request.query.get("limit"), lambda b: b.id)
        data = [await batch_json(b) for b in chunk]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "has_more": more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def retrieve(request: web.Request) -> web.StreamResponse:
        return web.json_response(await batch_json(find(request.match_info["batch_id"])))

    async def cancel(request: web.Request) -> web.StreamResponse:
        batch = find(request.match_info["batch_id"])
        service.cancel(batch)
        return web.json_response(await batch_json(batch))

    routes = [
        ("POST", "/v1/files", "files.create", upload),
        ("GET", "/v1/files", "files.list", list_files),
        ("GET", "/v1/files/{file_id}", "files.retrieve", get_file),
        ("GET", "/v1/files/{file_id}/content", "files.content", file_content),
        ("POST", "/v1/batches", "batches.create", create),
        ("GET", "/v1/batches", "batches.list", list_batches),
        ("GET", "/v1/batches/{batch_id}", "batches.retrieve", retrieve),
        ("POST", "/v1/batches/{batch_id}/cancel", "batches.cancel", cancel),
    ]
    return [
        web.route(method, path, guarded(service, name, handler)) for method, path, name, handler in routes
    ]
