"""Fakes shipped for tests and benchmarks: a loopback OpenAI-compatible server and an in-process provider.

``pytest_plugins = ["kagura.testing.pytest_plugin"]`` gives the ``fake_llm_server``, ``fake_llm_config``
and ``fake_provider`` fixtures, and ``postgres_url`` (a fresh database on a private PostgreSQL server,
``PostgresServer``, from the ``pgserver`` wheel). The servers need ``aiohttp`` (``pip install
'kagura[testing]'``); names are imported on first use, so :class:`FakeProvider` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kagura._lazy import lazy_exports

if TYPE_CHECKING:
    from kagura.testing._counting import CountingEmbedder
    from kagura.testing._exit_once import ExitOnceEmbedder
    from kagura.testing._fake_batch_clock import BatchTimings, ManualClock
    from kagura.testing._fake_batch_service import BatchSettings
    from kagura.testing._fake_process import FakeLLMProcess
    from kagura.testing._fake_provider import FakeProvider, fake_answer
    from kagura.testing._fake_quota import Quota, format_reset
    from kagura.testing._fake_server import FakeLLMServer
    from kagura.testing._fake_wire import Faults, ServerStats, default_answer, scripted
    from kagura.testing._postgres import PostgresServer, PostgresUnavailable
    from kagura.testing._redis_server import RedisServer
    from kagura.testing._vectors import fake_embedding

__all__ = [
    "BatchSettings",
    "BatchTimings",
    "CountingEmbedder",
    "ExitOnceEmbedder",
    "FakeLLMProcess",
    "FakeLLMServer",
    "FakeProvider",
    "Faults",
    "ManualClock",
    "PostgresServer",
    "PostgresUnavailable",
    "Quota",
    "RedisServer",
    "ServerStats",
    "default_answer",
    "fake_answer",
    "fake_embedding",
    "format_reset",
    "scripted",
]

_LAZY: dict[str, str] = {
    "BatchSettings": "kagura.testing._fake_batch_service",
    "BatchTimings": "kagura.testing._fake_batch_clock",
    "CountingEmbedder": "kagura.testing._counting",
    "ExitOnceEmbedder": "kagura.testing._exit_once",
    "FakeLLMProcess": "kagura.testing._fake_process",
    "FakeLLMServer": "kagura.testing._fake_server",
    "FakeProvider": "kagura.testing._fake_provider",
    "Faults": "kagura.testing._fake_wire",
    "ManualClock": "kagura.testing._fake_batch_clock",
    "PostgresServer": "kagura.testing._postgres",
    "PostgresUnavailable": "kagura.testing._postgres",
    "Quota": "kagura.testing._fake_quota",
    "RedisServer": "kagura.testing._redis_server",
    "ServerStats": "kagura.testing._fake_wire",
    "default_answer": "kagura.testing._fake_wire",
    "fake_answer": "kagura.testing._fake_provider",
    "fake_embedding": "kagura.testing._vectors",
    "format_reset": "kagura.testing._fake_quota",
    "scripted": "kagura.testing._fake_wire",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
