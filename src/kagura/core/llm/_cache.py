"""The persistent response cache: one SQLite file, keyed by a hash of the request, with TTL.

The key covers the provider, endpoint, model, messages (attachments by content hash) and sampling
parameters; API keys are never part of it nor stored. SQLite work runs in a thread (``asyncio.to_thread``):
``await cache.get(key)``; the blocking twins are ``get_sync``/``put_sync``/``count_sync``.
Schema changes are numbered migrations (namespace ``"llm-cache"``, :mod:`kagura._migrations`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from kagura._deprecation import renamed
from kagura._sqlite import migrate
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._types import LLMRequest, LLMResponse, Usage
from kagura.errors import StoreError

__all__ = ["ClientCaches", "Flight", "ResponseCache", "cache_key"]


class Flight:
    """One call in flight that identical concurrent calls join, and how many of them wait for it."""

    __slots__ = ("callers", "task")

    def __init__(self, task: asyncio.Task[LLMResponse]) -> None:
        self.task = task
        self.callers = 0


_MIGRATIONS = [
    """CREATE TABLE responses (
        key TEXT PRIMARY KEY,
        text TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL
    )""",
]


def cache_key(provider: str, request: LLMRequest) -> str:
    """sha256 of everything that determines the answer; never includes the API key."""
    payload = {
        "provider": provider,
        "base_url": request.base_url,
        "model": request.model,
        "system": request.system,
        "prompt": request.prompt,
        "attachments": [[a.mime_type, a.content_hash] for a in request.attachments],
        "params": request.sampling_params(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class ResponseCache:
    """A SQLite response cache at ``path`` (created with its parent directory on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False
        self.clock = time.time  # wall-clock seconds; replaceable in tests

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from exc
        if self._ready:
            return conn
        try:
            with self._lock:
                conn.execute("PRAGMA journal_mode=WAL")
                # Caches written before namespaces kept their version in PRAGMA user_version.
                migrate(conn, _MIGRATIONS, namespace="llm-cache", legacy_probe_table="responses")
                self._ready = True
        except (StoreError, sqlite3.DatabaseError) as exc:
            conn.close()
            raise self._unusable(exc) from exc
        return conn

    def _unusable(self, exc: BaseException) -> StoreError:
        return StoreError(f"LLM cache {self.path} is unusable ({exc}): delete it or set another cache_path")

    def get_sync(self, key: str) -> LLMResponse | None:
        """The cached response for ``key`` if present and not expired (blocking)."""
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT text, model, provider, prompt_tokens, completion_tokens, expires_at "
                "FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        finally:
            conn.close()
        if row is None or (row[5] is not None and row[5] <= self.clock()):
            return None
        usage = Usage(row[3], row[4], cost_usd=0.0)  # a hit costs no request
        return LLMResponse(row[0], usage, model=row[1], provider=row[2], cached=True)

    def put_sync(self, key: str, response: LLMResponse, ttl: float | None) -> None:
        """Store ``response`` under ``key`` for ``ttl`` seconds (None: no expiry) (blocking)."""
        now = self.clock()
        conn = self._connect()
        try:
            with conn:
                conn.execute(
                    "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, response.text, response.model, response.provider, response.usage.prompt_tokens,
                     response.usage.completion_tokens, now, now + ttl if ttl is not None else None),
                )  # fmt: skip
                conn.execute("DELETE FROM responses WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        finally:
            conn.close()

    def count_sync(self) -> int:
        conn = self._connect()
        try:
            return conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        finally:
            conn.close()

    async def get(self, key: str) -> LLMResponse | None:
        return await asyncio.to_thread(self.get_sync, key)

    async def put(self, key: str, response: LLMResponse, ttl: float | None) -> None:
        await asyncio.to_thread(self.put_sync, key, response, ttl)

    async def count(self) -> int:
        """How many responses the cache holds (expired ones not yet swept included)."""
        return await asyncio.to_thread(self.count_sync)

    # the names before one sync-twin convention (async plain, blocking ``*_sync``): one release more
    get_blocking = renamed("ResponseCache.get_blocking", "ResponseCache.get_sync", get_sync)
    put_blocking = renamed("ResponseCache.put_blocking", "ResponseCache.put_sync", put_sync)
    count_blocking = renamed("ResponseCache.count_blocking", "ResponseCache.count_sync", count_sync)


class ClientCaches:
    """One client's response caches (the one it was given, else one per ``cache_path`` its calls use) and
    its calls in flight on each event loop (for coalescing). Nothing is shared between clients."""

    def __init__(self, cache: ResponseCache | str | Path | None = None) -> None:
        if isinstance(cache, str | Path):
            cache = ResponseCache(cache)
        elif cache is not None and not isinstance(cache, ResponseCache):
            raise TypeError(f"cache must be a ResponseCache, a path or None, got {type(cache).__name__}")
        self.given = cache
        self._by_path: dict[Path, ResponseCache] = {}
        self._flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Flight]] = (
            weakref.WeakKeyDictionary()
        )

    def for_config(self, config: LLMConfig) -> ResponseCache | None:
        """The cache calls with ``config`` use (None: caching is off for them)."""
        if not config.enable_cache:
            return None
        if self.given is not None:
            return self.given
        path = Path(config.cache_path or "").expanduser().resolve()
        cache = self._by_path.get(path)
        if cache is None:
            cache = self._by_path[path] = ResponseCache(path)
        return cache

    def flights(self) -> dict[str, Flight]:
        """The calls in flight on the running loop, by request key."""
        return self._flights.setdefault(asyncio.get_running_loop(), {})
