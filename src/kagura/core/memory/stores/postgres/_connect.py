"""PostgreSQL connections and numbered, namespaced schema migrations (the SQLite convention, on a server).

::

    pool = open_pool("postgresql://user@host/db")     # pgvector extension created, adapter registered
    migrate(pool, MIGRATIONS, namespace="rag")         # kagura_schema (namespace, version), as in SQLite

A sync :class:`psycopg_pool.ConnectionPool`: every store method is blocking and runs in a worker thread
(``asyncio.to_thread``), exactly like the SQLite store, so the RAG pipeline calls one interface for both;
each worker thread borrows its own connection, so searches and per-file writes run side by side instead of
queueing on one connection's lock. Migrations run through kagura's one runner (:mod:`kagura._migrations`)
under a transaction-level advisory lock, so processes starting together on several hosts migrate once; a
schema newer than this kagura is refused by namespace.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from kagura._extras import import_optional
from kagura._migrations import run_migrations
from kagura._redact import redact_text, redact_url, url_secrets
from kagura.errors import StoreError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = [
    "CONNECT_TIMEOUT",
    "PgMigration",
    "PostgresSchema",
    "Reachability",
    "borrow",
    "has_namespace",
    "migrate",
    "open_migrated",
    "open_pool",
    "store_error",
    "transaction",
    "unreachable",
]

PgMigration = str | Callable[["psycopg.Connection[Any]"], object]

#: Seconds to wait for a connection before checking that the server is there at all (and the connect
#: timeout of every new connection): a server that went away is reported after this, not minutes later.
CONNECT_TIMEOUT = 5.0
_SCHEMA_LOCK = 0x6B61677572610001  # advisory lock key: "kagura" + 1, held while migrating


def _import() -> tuple[Any, Any, Any]:
    """psycopg, the pool class and pgvector's adapter; MissingExtraError naming ``kagura[postgres]``."""
    feature = "the PostgreSQL store"
    psycopg = import_optional("psycopg", feature)
    pool = import_optional("psycopg_pool", feature)
    pgvector = import_optional("pgvector.psycopg", feature)
    return psycopg, pool.ConnectionPool, pgvector.register_vector


def store_error(url: str, exc: BaseException, doing: str) -> StoreError:
    """A StoreError for a driver error while ``doing`` something, never showing the password."""
    reason = redact_text(str(exc), *url_secrets(url))
    return StoreError(f"cannot {doing} on the PostgreSQL store {redact_url(url)}: {reason}")


def has_namespace(url: str, namespace: str) -> bool:
    """Whether the database at ``url`` holds kagura's schema for ``namespace`` (``"rag"``), read without
    creating anything (no extension, no table): a search on an empty database must not make a store."""
    psycopg, _, _ = _import()
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            if conn.execute("SELECT to_regclass('kagura_schema')").fetchone() == (None,):
                if hidden := _hidden_by_search_path(conn, table="kagura_schema"):
                    raise StoreError(f"cannot read the store {redact_url(url)}: {hidden}")
                return False
            row = conn.execute("SELECT 1 FROM kagura_schema WHERE namespace = %s", (namespace,)).fetchone()
            return row is not None
    except psycopg.Error as exc:
        raise store_error(url, exc, "read the schema") from exc


def _hidden_by_search_path(
    conn: psycopg.Connection[Any], *, table: str | None = None, extension: str | None = None
) -> str:
    """Why ``table`` or ``extension`` is not found although the database has it: the schema holding it is
    not on the connection's ``search_path`` (``options=-c search_path=...`` in the URL, or a role's
    setting); "" when it is really absent."""
    try:
        conn.rollback()
        if table is not None:
            query = (
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relname = %s ORDER BY 1 LIMIT 1"
            )
            found = conn.execute(query, (table,)).fetchone()
        else:
            query = (
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                " WHERE e.extname = %s"
            )
            found = conn.execute(query, (extension,)).fetchone()
        path = conn.execute("SHOW search_path").fetchone()
    except Exception:  # the hint is a courtesy: the caller reports its own error without it
        return ""
    if found is None or path is None:
        return ""
    what = "kagura's tables are" if table is not None else f"the {extension} extension is"
    return (
        f'{what} in schema "{found[0]}", which this connection\'s search_path ("{path[0]}") does not'
        f" include: fix the URL's options=-c search_path=... (or the role's search_path)"
    )


def open_pool(url: str, *, min_size: int = 1, max_size: int = 4) -> ConnectionPool:
    """A pool of connections to ``url`` with pgvector ready (the extension is created if missing)."""
    psycopg, pool_cls, register_vector = _import()
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            with conn.transaction():
                # Processes opening a fresh database at once would race on CREATE EXTENSION ("IF NOT
                # EXISTS" checks before it inserts, so the loser fails on pg_extension's unique name):
                # they take turns under the schema lock, and a database that has it needs no privilege.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            _check_vector_type(url, conn, register_vector)
    except psycopg.Error as exc:
        raise store_error(url, exc, "connect and enable pgvector") from None
    failures: list[BaseException] = []  # the pool retries in the background: keep its last error to report

    def configure(conn: psycopg.Connection[Any]) -> None:
        try:
            register_vector(conn)
        except Exception as exc:
            failures.append(exc)
            raise
        conn.commit()

    pool = pool_cls(
        url,
        min_size=min_size,
        max_size=max_size,
        configure=configure,
        open=False,
        kwargs={"autocommit": False, "connect_timeout": max(2, math.ceil(CONNECT_TIMEOUT))},
    )
    try:
        pool.open(wait=True, timeout=30)
    except Exception as exc:
        pool.close()
        raise store_error(url, failures[-1] if failures else exc, "open a connection pool") from None
    return pool


def _check_vector_type(url: str, conn: psycopg.Connection[Any], register_vector: Any) -> None:
    """What every pooled connection will do first (register pgvector's type), tried once on this direct
    connection: a connection that cannot see the type fails here with its cause, at once, instead of the
    pool retrying in the background for 30 s and reporting only that it timed out."""
    try:
        register_vector(conn)
    except Exception as exc:  # psycopg.ProgrammingError: "vector type not found in the database"
        hidden = _hidden_by_search_path(conn, extension="vector")
        raise StoreError(
            f"cannot use pgvector on the PostgreSQL store {redact_url(url)}: "
            + (hidden or redact_text(str(exc), *url_secrets(url)))
        ) from None


class Reachability:
    """What the last check said about a server: once it was found unreachable, each later call tries one
    direct connection first (refused at once while the server stays down) instead of waiting
    ``connect_timeout`` for the pool again, so a run's remaining files fail in milliseconds, not
    seconds each; the first call that reaches it again clears this."""

    def __init__(self) -> None:
        self.down = False


@contextlib.contextmanager
def transaction(
    pool: ConnectionPool,
    url: str,
    doing: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    reachability: Reachability | None = None,
) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection inside one transaction (committed on success, rolled back on error);
    driver errors become :class:`StoreError` without the password.

    A server that went away is reported within about ``connect_timeout`` seconds (see :func:`borrow`),
    not after the pool's own reconnect attempts (minutes).
    """
    import psycopg

    try:
        conn = borrow(pool, url, connect_timeout, reachability or Reachability())
        try:
            with conn, conn.transaction():
                yield conn
        finally:
            pool.putconn(conn)
    except psycopg.Error as exc:
        raise store_error(url, exc, doing) from None


def borrow(
    pool: ConnectionPool, url: str, connect_timeout: float, reachability: Reachability
) -> psycopg.Connection[Any]:
    """A connection from ``pool`` (give it back with ``pool.putconn``), failing fast when the server is down.

    Waiting for a pooled connection longer than ``connect_timeout`` makes one direct connection attempt:
    if the server cannot be reached, :class:`StoreError` says so with the driver's reason at once; if it
    can, the pool is only busy and the wait goes on, up to the pool's own timeout.
    """
    from psycopg_pool import PoolTimeout

    if reachability.down:
        _check_reachable(url, connect_timeout, reachability)
    deadline = time.monotonic() + pool.timeout
    while True:
        try:
            return pool.getconn(timeout=max(0.01, min(connect_timeout, deadline - time.monotonic())))
        except PoolTimeout:
            _check_reachable(url, connect_timeout, reachability)
            if time.monotonic() >= deadline:
                raise


def _check_reachable(url: str, connect_timeout: float, reachability: Reachability) -> None:
    problem = unreachable(url, connect_timeout)
    reachability.down = problem is not None
    if problem is not None:
        raise StoreError(f"the PostgreSQL server of the store {redact_url(url)} cannot be reached: {problem}")


def unreachable(url: str, connect_timeout: float) -> str | None:
    """Why a new connection to ``url`` fails within ``connect_timeout`` seconds (masked), or None."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=max(2, math.ceil(connect_timeout))).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return redact_text(reason, *url_secrets(url))
    return None


class PostgresSchema:
    """:class:`~kagura._migrations.SchemaDatabase` for a pool: a transaction-level advisory lock is the
    schema lock (processes on several hosts migrate once); driver errors become StoreError without the
    password (through :func:`transaction`); there is no legacy version."""

    placeholder = "%s"
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, pool: ConnectionPool, url: str) -> None:
        self.pool = pool
        self.url = url

    @property
    def location(self) -> str:
        return redact_url(self.url)

    def recorded_version(self, namespace: str) -> int | None:
        with transaction(self.pool, self.url, f"read the {namespace!r} schema") as conn:
            if conn.execute("SELECT to_regclass('kagura_schema')").fetchone() == (None,):
                return None
            row = conn.execute(
                "SELECT version FROM kagura_schema WHERE namespace = %s", (namespace,)
            ).fetchone()
        return None if row is None else int(row[0])

    @contextlib.contextmanager
    def locked(self, namespace: str) -> Iterator[psycopg.Connection[Any]]:
        with transaction(self.pool, self.url, f"migrate the {namespace!r} schema") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            yield conn

    def run_script(self, conn: psycopg.Connection[Any], script: str) -> None:
        conn.execute(script.encode())

    def legacy_version(self, conn: psycopg.Connection[Any], probe_table: str) -> int:
        return 0


def migrate(pool: ConnectionPool, url: str, migrations: Sequence[PgMigration], *, namespace: str) -> int:
    """Apply the migrations ``namespace`` has not seen yet (:func:`kagura._migrations.run_migrations`,
    each in its own transaction with the bump of its version); return the resulting version. Refuses
    (StoreError) a namespace newer than ``migrations``."""
    return run_migrations(PostgresSchema(pool, url), migrations, namespace=namespace)


def open_migrated(
    url: str, migrations: Sequence[PgMigration], *, namespace: str, max_size: int = 4
) -> ConnectionPool:
    """:func:`open_pool`, then :func:`migrate` ``namespace`` (the pool is closed if migrating fails)."""
    pool = open_pool(url, max_size=max_size)
    try:
        migrate(pool, url, migrations, namespace=namespace)
    except BaseException:
        pool.close()
        raise
    return pool
