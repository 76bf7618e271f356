"""A private PostgreSQL 16 + pgvector server for tests, from the ``pgserver`` wheel (extra ``test``).

::

    with PostgresServer() as server:          # starts in a temporary directory, on a unix socket
        url = server.new_database()           # a fresh, empty database: postgresql://...
    # stopped (by this object's own handle) and its directory removed

Each test gets its own database (``new_database``), so tests never see each other's rows while sharing one
server started once per session.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kagura._process import pid_alive
from kagura.errors import ServiceUnavailableError

__all__ = ["PostgresServer", "PostgresUnavailable"]


class PostgresUnavailable(ServiceUnavailableError):
    """The test server could not start (no ``pgserver`` wheel, or the server refused to start)."""


class PostgresServer:
    """One private PostgreSQL server; ``url`` is its admin URL (database ``postgres``)."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._server: Any = None
        self.url = ""

    def start(self) -> PostgresServer:
        try:
            import pgserver
        except ImportError as exc:
            raise PostgresUnavailable(
                f"the pgserver wheel is not installed ({exc}): pip install 'kagura[test]'"
            ) from exc
        self._dir = Path(tempfile.mkdtemp(prefix="kagura-pg-"))
        try:
            self._server = pgserver.get_server(self._dir, cleanup_mode="stop")  # pyright: ignore[reportPrivateImportUsage]
            self.url = str(self._server.get_uri())
        except Exception as exc:
            self.stop()
            raise PostgresUnavailable(f"pgserver could not start PostgreSQL: {exc}") from exc
        return self

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))

    def stop(self) -> None:
        """Stop the server this object started and remove its directory."""
        server, self._server = self._server, None
        if server is not None:
            try:
                server.cleanup()
            except Exception:
                if _postmaster_alive(self._dir):
                    raise
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _postmaster_alive(directory: Path | None) -> bool:
    """Whether the server with its data in ``directory`` still runs (postmaster.pid names a live process)."""
    try:
        pid = int((directory / "postmaster.pid").read_text().split()[0]) if directory is not None else 0
    except (OSError, ValueError, IndexError):
        return False
    return pid > 0 and pid_alive(pid)
