"""The fake server in its own process (``kagura fake-llm``), so its CPU does not share the caller's loop.

Benchmarks use it: the client's event loop then pays only for the client side, as with a remote server.
Counters are read over HTTP (``GET /_kagura/stats``), faults switched with ``POST /_kagura/faults``, the
quota changed with ``POST /_kagura/quota``.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Sequence
from typing import Any

from kagura._checks import check_seconds
from kagura.errors import WorkerProcessError
from kagura.testing._fake_quota import Quota
from kagura.testing._fake_wire import DEFAULT_HISTORY, Faults, ServerStats

__all__ = ["FakeLLMProcess"]


class FakeLLMProcess:
    """``async with FakeLLMProcess(latency=0.2) as server:``; use ``base_url``, ``await stats()``.

    Runs ``python -m kagura.cli fake-llm`` and stops it (by its own process handle) on exit.
    ``batch_args``: ``kagura fake-llm``'s batch flags, e.g. ``("--batch-seconds", "2")``. ``history``:
    how many of the latest request bodies, arrival times and usage entries the server keeps
    (``kagura fake-llm --history``; None: all of them); the counters are exact either way.
    """

    def __init__(
        self,
        latency: float = 0.0,
        *,
        quota_rpm: float | None = None,
        quota_tpm: float | None = None,
        quota_burst: float | None = None,
        quota_headers: bool = True,
        invalid_json_rate: float = 0.0,
        startup_timeout: float = 60.0,
        batch_args: Sequence[str] = (),
        history: int | None = DEFAULT_HISTORY,
    ) -> None:
        check_seconds("latency", latency)
        check_seconds("startup_timeout", startup_timeout, allow_zero=False)
        Quota(quota_rpm, quota_tpm, quota_burst, quota_headers)  # bad values fail here, not in the child
        self.latency = latency
        Faults(invalid_json_rate=invalid_json_rate)
        ServerStats(history=history)  # a bad history fails here too
        self._args = [
            f"--{'' if quota_headers else 'no-'}quota-headers",
            "--invalid-json-rate",
            repr(invalid_json_rate),
            *batch_args,
            *(["--full-history"] if history is None else ["--history", str(history)]),
        ]
        for flag, value in (
            ("--quota-rpm", quota_rpm),
            ("--quota-tpm", quota_tpm),
            ("--quota-burst", quota_burst),
        ):
            if value is not None:
                self._args += [flag, repr(float(value))]
        self.startup_timeout = startup_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeLLMProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kagura.cli", "fake-llm", "--latency", str(self.latency), "--port", "0",
            *self._args, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self._proc.stdout is not None
        line = (await asyncio.wait_for(self._proc.stdout.readline(), self.startup_timeout)).decode()
        match = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
        if match is None:
            await self.close()
            raise WorkerProcessError(f"kagura fake-llm did not start: {line!r}")
        self.base_url = match.group(0)
        return self

    @property
    def anthropic_base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the base URL for the Anthropic SDK (it adds ``/v1/messages``)."""
        return self.base_url.removesuffix("/v1")

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            url = self.base_url.removesuffix("/v1") + path
            async with session.request(method, url, json=body) as response:
                if response.status == 400:  # the server refused the values: say why, as the method would
                    raise ValueError((await response.json())["error"]["message"])
                response.raise_for_status()
                return await response.json()

    async def stats(self, *, usage_log: bool = False) -> dict[str, Any]:
        """The server's counters (requests, max_in_flight, tokens, ...) as a dict; with ``usage_log=True``
        the per-request usage log too (its latest ``history`` entries)."""
        return await self._call("GET", "/_kagura/stats" + ("?usage_log=1" if usage_log else ""))

    async def reset_stats(self) -> None:
        await self._call("POST", "/_kagura/reset")

    async def set_faults(self, **faults: Any) -> None:
        """Replace the faults, e.g. ``await server.set_faults(rate_limit_every=5, retry_after=1)``."""
        await self._call("POST", "/_kagura/faults", faults)

    async def set_quota(self, **changes: Any) -> dict[str, Any]:
        """Change some quota fields at run time, e.g. ``await server.set_quota(rpm=300)``; the new quota."""
        return await self._call("POST", "/_kagura/quota", changes)

    async def close(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            await self._proc.wait()
        self._proc = None

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
