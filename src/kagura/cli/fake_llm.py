"""``kagura fake-llm``: run the fake OpenAI-compatible (and Anthropic ``/v1/messages``) server on 127.0.0.1
until interrupted."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from kagura.cli._app import KaguraCommand, app
from kagura.cli._params import finite

DEFAULT_HISTORY = 10_000  # kagura.testing.DEFAULT_HISTORY (not imported here: it would import aiohttp)


def _g(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


async def _serve(
    latency: float,
    port: int,
    faults: dict[str, Any],
    quota: dict[str, Any],
    batches: Any = None,
    history: int | None = DEFAULT_HISTORY,
) -> None:
    from kagura.testing import FakeLLMServer, Faults

    server = FakeLLMServer(
        latency=latency, port=port, faults=Faults(**faults), batches=batches, history=history, **quota
    )
    try:
        await server.start()
    except OSError as exc:
        await server.close()
        typer.echo(f"error: cannot listen on 127.0.0.1:{port} (--port): {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    try:
        typer.echo(f"fake LLM server at {server.base_url} (latency {latency} s); Ctrl-C to stop")
        typer.echo(
            f"  use: KAGURA_LLM_BASE_URL={server.base_url} KAGURA_LLM_API_KEY=test KAGURA_LLM_MODEL=fake"
        )
        root = server.base_url.removesuffix("/v1")
        typer.echo(
            f"  Anthropic: LLMConfig(provider='anthropic', base_url='{root}', api_key='test') (/v1/messages)"
        )
        kept = "every request" if history is None else f"the latest {history:,} requests"
        typer.echo(f"  counters: GET {root}/_kagura/stats (the usage log of {kept}: ?usage_log=1)")
        timings = server.batches.settings.timings
        typer.echo(
            f"  batches: {server.base_url}/batches and {root}/v1/messages/batches run "
            f"{timings.in_progress:g} s (window {timings.completion_window:g} s)"
        )
        if server.quota.enabled:
            q = server.quota
            typer.echo(
                f"  quota per API key: rpm={_g(q.rpm)} tpm={_g(q.tpm)} burst={_g(q.burst)} "
                f"headers={'on' if q.headers else 'off'}; "
                f"change it: POST {root}/_kagura/quota"
            )
        await asyncio.Event().wait()
    finally:
        await server.close()


@app.command("fake-llm", cls=KaguraCommand)
def fake_llm(
    latency: float = typer.Option(
        0.2, "--latency", min=0.0, callback=finite, help="Seconds each request takes."
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."),
    rate_limit_every: int | None = typer.Option(None, min=1, help="Answer every Nth request with 429."),
    retry_after: float = typer.Option(
        1.0, min=0.0, callback=finite, help="Retry-After seconds sent with those 429s."
    ),
    server_error_every: int | None = typer.Option(None, min=1, help="Answer every Nth request with 500."),
    hang_every: int | None = typer.Option(None, min=1, help="Never answer every Nth request."),
    malformed_every: int | None = typer.Option(None, min=1, help="Answer every Nth request with bad JSON."),
    invalid_json_rate: float = typer.Option(
        0.0,
        "--invalid-json-rate",
        help="Share (0-1) of the answers to structured requests sent as broken JSON.",
    ),
    quota_rpm: float | None = typer.Option(
        None,
        "--quota-rpm",
        callback=finite,
        help="Requests per minute each API key may make (a token bucket); over it: 429.",
    ),
    quota_tpm: float | None = typer.Option(
        None,
        "--quota-tpm",
        callback=finite,
        help="Tokens per minute each API key may use (prompt + completion).",
    ),
    quota_burst: float | None = typer.Option(
        None,
        "--quota-burst",
        callback=finite,
        help="Requests that may start at once (default: one second of --quota-rpm).",
    ),
    quota_headers: bool = typer.Option(
        True,
        "--quota-headers/--no-quota-headers",
        help="Send OpenAI's x-ratelimit-* headers.",
    ),
    batch_seconds: float = typer.Option(
        60.0,
        "--batch-seconds",
        min=0.0,
        help="Seconds a batch spends in_progress (its requests finish evenly).",
    ),
    batch_request_seconds: float = typer.Option(
        0.0, "--batch-request-seconds", min=0.0, help="Seconds more a batch runs per request it holds."
    ),
    batch_validating_seconds: float = typer.Option(
        0.0, "--batch-validating-seconds", min=0.0, help="Seconds a new batch spends validating."
    ),
    batch_window: float = typer.Option(
        86400.0, "--batch-window", min=1.0, help="A batch's completion window in seconds; after it: expired."
    ),
    batch_token_limit: int | None = typer.Option(
        None, "--batch-token-limit", min=1, help="Enqueued tokens per model before new batches fail."
    ),
    batch_queue_limit: int | None = typer.Option(
        None, "--batch-queue-limit", min=1, help="Anthropic batch requests processing at once before 429."
    ),
    batch_fail_every: int | None = typer.Option(
        None, "--batch-fail-every", min=1, help="Every Nth request of each batch fails (HTTP 500)."
    ),
    history: int = typer.Option(
        DEFAULT_HISTORY,
        "--history",
        min=0,
        help="Keep the bodies, arrival times and usage of the latest N requests only (up to 2N between"
        " trims; the counters stay exact), so a long load test stays small.",
    ),
    full_history: bool = typer.Option(
        False, "--full-history", help="Keep every request's body, arrival time and usage (not --history)."
    ),
) -> None:
    """Run a fake OpenAI-compatible LLM server on 127.0.0.1 (for tests, demos and benchmarks).

    GET /_kagura/stats gives its counters; ?usage_log=1 adds the usage of each request it still keeps
    (--history)."""
    from kagura.testing import Faults, Quota

    faults: dict[str, Any] = {
        "rate_limit_every": rate_limit_every,
        "retry_after": retry_after,
        "server_error_every": server_error_every,
        "hang_every": hang_every,
        "malformed_every": malformed_every,
        "invalid_json_rate": invalid_json_rate,
    }
    quota = {"quota_rpm": quota_rpm, "quota_tpm": quota_tpm, "quota_burst": quota_burst,
             "quota_headers": quota_headers}  # fmt: skip
    try:  # check the arguments before starting anything
        Faults(**faults)
        Quota(quota_rpm, quota_tpm, quota_burst, quota_headers)
    except (TypeError, ValueError) as exc:
        flag = str(exc).split(" ")[0].replace("Quota.", "--quota-").replace("Faults.", "--").replace("_", "-")
        raise typer.BadParameter(str(exc), param_hint=flag) from None
    from kagura.testing import BatchSettings, BatchTimings

    batches = BatchSettings(
        BatchTimings(
            validating=batch_validating_seconds,
            in_progress=batch_seconds,
            completion_window=batch_window,
            per_request=batch_request_seconds,
        ),
        enqueued_token_limit=batch_token_limit,
        fail_every=batch_fail_every,
        queued_request_limit=batch_queue_limit,
    )
    try:
        asyncio.run(_serve(latency, port, faults, quota, batches, None if full_history else history))
    except KeyboardInterrupt:
        typer.echo("stopped")
