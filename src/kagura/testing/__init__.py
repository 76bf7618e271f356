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
    from kagura.testing._fake_provider import FakeProvider
    from kagura.testing._fake_server import FakeLLMServer
    from kagura.testing._fake_wire import Faults
    from kagura.testing._postgres import PostgresServer

    # isort: split
    # Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
    from kagura.testing._exit_once import ExitOnceEmbedder  # noqa: F401
    from kagura.testing._fake_batch_clock import BatchTimings, ManualClock  # noqa: F401
    from kagura.testing._fake_batch_service import BatchSettings  # noqa: F401
    from kagura.testing._fake_process import FakeLLMProcess  # noqa: F401
    from kagura.testing._fake_provider import fake_answer  # noqa: F401
    from kagura.testing._fake_quota import Quota, format_reset  # noqa: F401
    from kagura.testing._fake_wire import DEFAULT_HISTORY, ServerStats, default_answer, scripted  # noqa: F401
    from kagura.testing._postgres import PostgresUnavailable  # noqa: F401
    from kagura.testing._redis_server import RedisServer  # noqa: F401
    from kagura.testing._vectors import fake_embedding  # noqa: F401

__all__ = [
    "CountingEmbedder",
    "FakeLLMServer",
    "FakeProvider",
    "Faults",
    "PostgresServer",
]

__getattr__, __dir__ = lazy_exports(__name__, __all__)
