"""``kagura fake-llm``: run the fake OpenAI-compatible server on 127.0.0.1 until interrupted."""

from __future__ import annotations

import asyncio

import typer

from kagura.cli._app import app


async def _serve(latency: float, port: int, faults: dict[str, float | int | None]) -> None:
    from kagura.testing import FakeLLMServer, Faults

    async with FakeLLMServer(latency=latency, port=port, faults=Faults(**faults)) as server:  # type: ignore[arg-type]
        typer.echo(f"fake LLM server at {server.base_url} (latency {latency} s); Ctrl-C to stop")
        typer.echo(
            f"  use: KAGURA_LLM_BASE_URL={server.base_url} KAGURA_LLM_API_KEY=test KAGURA_LLM_MODEL=fake"
        )
        typer.echo(f"  counters: GET {server.base_url.removesuffix('/v1')}/_kagura/stats")
        await asyncio.Event().wait()


@app.command("fake-llm")
def fake_llm(
    latency: float = typer.Option(0.2, "--latency", min=0.0, help="Seconds each request takes."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."),
    rate_limit_every: int | None = typer.Option(None, min=1, help="Answer every Nth request with 429."),
    retry_after: float = typer.Option(1.0, min=0.0, help="Retry-After seconds sent with those 429s."),
    server_error_every: int | None = typer.Option(None, min=1, help="Answer every Nth request with 500."),
    hang_every: int | None = typer.Option(None, min=1, help="Never answer every Nth request."),
    malformed_every: int | None = typer.Option(None, min=1, help="Answer every Nth request with bad JSON."),
) -> None:
    """Run a fake OpenAI-compatible LLM server on 127.0.0.1 (for tests, demos and benchmarks)."""
    faults: dict[str, float | int | None] = {
        "rate_limit_every": rate_limit_every,
        "retry_after": retry_after,
        "server_error_every": server_error_every,
        "hang_every": hang_every,
        "malformed_every": malformed_every,
    }
    try:
        asyncio.run(_serve(latency, port, faults))
    except KeyboardInterrupt:
        typer.echo("stopped")
