"""pytest fixtures around kagura's fakes. Enable with ``pytest_plugins = ["kagura.testing.pytest_plugin"]``.

- ``fake_llm_server``: a started :class:`FakeLLMServer` (latency 0, no faults), closed after the test.
- ``fake_llm_config``: an ``LLMConfig`` pointing at it (model "fake", key "test", no cache, fast retries).
- ``fake_provider``: a fresh in-process :class:`FakeProvider` to inject (``LLMClient(..., provider=...)``).
- ``postgres_server``: a private PostgreSQL + pgvector server (``pgserver`` wheel) for the whole session;
  ``postgres_url``: a fresh, empty database on it for one test. Skipped with the reason when the server
  truly cannot start, except under ``CI=true``, where that fails the test instead.
- ``redis_server``: a private ``redis-server`` on a free loopback port for the whole session (see
  :class:`~kagura.testing.RedisServer`). It skips the tests that use it when the binary is missing, with the
  reason, except under ``CI=true``, where a missing server is a failure.
- ``own_redis_server``: the same, started for one test alone, which may kill and restart it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import NoReturn

import pytest
import pytest_asyncio

from kagura.core.llm import LLMConfig, default_clients
from kagura.errors import ServiceUnavailableError
from kagura.testing._fake_provider import FakeProvider
from kagura.testing._fake_server import FakeLLMServer
from kagura.testing._postgres import PostgresServer
from kagura.testing._redis_server import RedisServer

__all__ = [
    "fake_llm_config",
    "fake_llm_server",
    "fake_provider",
    "own_redis_server",
    "postgres_server",
    "postgres_url",
    "redis_server",
]


@pytest_asyncio.fixture
async def fake_llm_server() -> AsyncIterator[FakeLLMServer]:
    """A fake OpenAI-compatible server on 127.0.0.1 for the duration of one test."""
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_llm_config(fake_llm_server: FakeLLMServer) -> Iterator[LLMConfig]:
    """``LLMConfig`` for the ``fake_llm_server`` (the default clients are forgotten after the test)."""
    yield LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="test", retry_max_delay=0.05)
    default_clients.clear()


@pytest.fixture
def fake_provider() -> FakeProvider:
    """A fresh in-process :class:`FakeProvider`: inject it, ``LLMClient(config, provider=fake_provider)``."""
    return FakeProvider()


def _cannot_start(in_ci: str, otherwise: str) -> NoReturn:
    """A service a test needs cannot start: fail under ``CI=true`` (CI must run every test), else skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(in_ci)
    pytest.skip(otherwise)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the session, stopped by its own handle at the end."""
    server = PostgresServer()
    try:
        server.start()
    except ServiceUnavailableError as exc:
        _cannot_start(f"PostgreSQL tests must run in CI: {exc}", str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.new_database()


def _started_redis() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
        server.start()
    except ServiceUnavailableError as exc:
        _cannot_start(f"redis-server is needed in CI: {exc}", f"redis-server cannot start here: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A ``redis-server`` started for this test session and stopped (by its process handle) after it."""
    yield from _started_redis()


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A ``redis-server`` for one test alone (it may kill and restart it), stopped after the test."""
    yield from _started_redis()
