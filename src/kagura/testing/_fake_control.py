"""The fake server's control routes under ``/_kagura/``: read the counters, switch faults and quota, reset.

- ``GET /_kagura/stats``: :class:`ServerStats`'s counters as JSON, plus the current ``faults`` and
  ``quota``; the per-request ``usage_log`` (what the server still keeps of it) only with
  ``?usage_log=1``, so polling the counters during a big run stays cheap;
- ``POST /_kagura/faults`` with a :class:`Faults` as JSON: replaces the faults;
- ``POST /_kagura/quota`` with some :class:`Quota` fields (``{"rpm": 300}``; ``null`` lifts a limit):
  changes those fields, keeps the others; answers the new quota;
- ``POST /_kagura/reset``: zeroes the counters (:meth:`FakeLLMServer.reset_stats`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

from aiohttp import web

from kagura.testing._fake_quota import Quota
from kagura.testing._fake_wire import Faults, ServerStats, error_response

__all__ = ["ControlledServer", "control_routes"]


class ControlledServer(Protocol):
    """What the control routes act on (a :class:`~kagura.testing.FakeLLMServer`)."""

    stats: ServerStats

    @property
    def faults(self) -> Faults: ...

    @property
    def quota(self) -> Quota: ...

    def set_faults(self, faults: Faults) -> None: ...

    def set_quota(self, **changes: Any) -> Quota: ...

    def reset_stats(self) -> None: ...


def control_routes(server: ControlledServer) -> list[web.RouteDef]:
    """The ``/_kagura/*`` routes acting on ``server``."""

    async def get_stats(request: web.Request) -> web.StreamResponse:
        data = server.stats.counters()
        wanted = request.query.get("usage_log", "0").lower()
        if wanted not in ("0", "1", "true", "false"):
            return error_response(400, None, f"bad usage_log: {wanted!r} (give 1 or 0)")
        if wanted in ("1", "true"):
            data["usage_log"] = list(server.stats.usage_log)
        data["faults"] = asdict(server.faults)
        data["quota"] = asdict(server.quota)
        return web.json_response(data)

    async def set_faults(request: web.Request) -> web.StreamResponse:
        try:
            server.set_faults(Faults(**await request.json()))
        except (TypeError, ValueError) as exc:
            return error_response(400, None, f"bad faults: {exc}")
        return web.json_response(asdict(server.faults))

    async def set_quota(request: web.Request) -> web.StreamResponse:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise TypeError('send a JSON object of Quota fields, such as {"rpm": 300}')
            quota = server.set_quota(**changes)
        except (TypeError, ValueError) as exc:
            return error_response(400, None, f"bad quota: {exc}")
        return web.json_response(asdict(quota))

    async def reset(request: web.Request) -> web.StreamResponse:
        server.reset_stats()
        return web.json_response({"ok": True})

    return [
        web.get("/_kagura/stats", get_stats),
        web.post("/_kagura/faults", set_faults),
        web.post("/_kagura/quota", set_quota),
        web.post("/_kagura/reset", reset),
    ]
