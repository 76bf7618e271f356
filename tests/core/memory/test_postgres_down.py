"""A PostgreSQL server that dies mid-run is reported within the store's ``connect_timeout``, naming the cause
(issue 19 §5): before, every store call waited the pool's 30 s for a connection, and ingest showed nothing
for minutes while the pool kept trying to reconnect."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from kagura.core.memory.stores.postgres import PostgresRAGStore
from kagura.errors import StoreError
from kagura.testing import PostgresServer, PostgresUnavailable

CONNECT_TIMEOUT = 2.0


def _kill(server: PostgresServer) -> None:
    """SIGKILL the server's postmaster and its backends (as a crash of its host would), leaving it down.

    The backends go too: a backend whose postmaster died alone keeps serving its open connection until it
    notices, which on a loaded machine may be after the test's first call."""
    import psutil

    assert server._dir is not None  # pyright: ignore[reportPrivateUsage]
    pid = int((Path(server._dir) / "postmaster.pid").read_text().split()[0])  # pyright: ignore[reportPrivateUsage]
    postmaster = psutil.Process(pid)
    for process in [*postmaster.children(recursive=True), postmaster]:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _call_in_thread(call: object) -> tuple[threading.Event, list[BaseException]]:
    done, errors = threading.Event(), []

    def run() -> None:
        try:
            call()  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    return done, errors


def test_a_killed_server_fails_each_call_promptly_with_the_cause() -> None:
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        store = PostgresRAGStore(server.new_database(), connect_timeout=CONNECT_TIMEOUT)
        assert store.counts()["documents"] == 0
        _kill(server)
        for _ in range(3):  # the first call may meet its broken connection; later ones wait for a new one
            done, errors = _call_in_thread(store.counts)
            # generous (a loaded CI machine): many times the configured timeout, and still under the 30 s a
            # call used to wait for the pool before the fix
            assert done.wait(timeout=14 * CONNECT_TIMEOUT), "a store call still waits for the dead server"
            assert errors and isinstance(errors[0], StoreError), errors
        assert "cannot be reached" in str(errors[0])
        assert "refused" in str(errors[0]).lower() or "no such file" in str(errors[0]).lower()
        store.close()
    finally:
        server.stop()


def test_connect_timeout_must_be_a_positive_number(postgres_url: str) -> None:
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="connect_timeout"):
            PostgresRAGStore(postgres_url, connect_timeout=bad)
    for wrong_type in ("5", True):  # not a number: TypeError, as everywhere (kagura._checks)
        with pytest.raises(TypeError, match="connect_timeout"):
            PostgresRAGStore(postgres_url, connect_timeout=wrong_type)  # type: ignore[arg-type]
