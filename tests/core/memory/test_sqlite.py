"""SQLite helpers: connection settings, numbered migrations, transactions; on real files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from kagura._sqlite import connect, migrate, schema_version, split_sql, transaction
from kagura.errors import StoreError

MIGRATIONS = [
    """
    CREATE TABLE docs (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
    CREATE TABLE chunks (id INTEGER PRIMARY KEY,
                         doc_id INTEGER NOT NULL REFERENCES docs(id) ON DELETE CASCADE,
                         text TEXT NOT NULL);
    """,
    "ALTER TABLE docs ADD COLUMN note TEXT DEFAULT 'a;b';",
]


def test_connect_creates_parents_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "store.db"
    conn = connect(path)
    assert path.exists()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    conn.close()


def test_connection_usable_from_another_thread(tmp_path: Path) -> None:
    conn = connect(tmp_path / "s.db")
    conn.execute("CREATE TABLE t (x)")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            conn.execute("INSERT INTO t VALUES (1)")
            conn.commit()
        except BaseException as exc:
            errors.append(exc)

    th = threading.Thread(target=work)
    th.start()
    th.join()
    assert not errors
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_migrate_applies_in_order_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    conn = connect(path)
    assert schema_version(conn, "docs") == 0
    assert migrate(conn, MIGRATIONS[:1], namespace="docs") == 1
    assert migrate(conn, MIGRATIONS, namespace="docs") == 2
    assert migrate(conn, MIGRATIONS, namespace="docs") == 2
    conn.execute("INSERT INTO docs (path) VALUES ('a.txt')")
    conn.commit()
    assert conn.execute("SELECT note FROM docs").fetchone()[0] == "a;b"
    conn.close()
    reopened = connect(path)
    assert schema_version(reopened, "docs") == 2


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    conn = connect(tmp_path / "store.db")
    migrate(conn, MIGRATIONS, namespace="docs")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO chunks (doc_id, text) VALUES (99, 'orphan')")
    conn.rollback()
    with transaction(conn):
        conn.execute("INSERT INTO docs (id, path) VALUES (1, 'a')")
        conn.execute("INSERT INTO chunks (doc_id, text) VALUES (1, 'x')")
    with transaction(conn):
        conn.execute("DELETE FROM docs WHERE id = 1")
    assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0


def test_callable_migration(tmp_path: Path) -> None:
    def seed(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO docs (path) VALUES (?)", [("x",), ("y",)])

    conn = connect(tmp_path / "store.db")
    assert migrate(conn, [MIGRATIONS[0], seed], namespace="docs") == 2
    assert conn.execute("SELECT count(*) FROM docs").fetchone()[0] == 2


def test_failed_migration_rolls_back_whole_step(tmp_path: Path) -> None:
    conn = connect(tmp_path / "store.db")
    broken = "CREATE TABLE extra (x); INSERT INTO no_such_table VALUES (1);"
    with pytest.raises(StoreError, match="migration 2 failed"):
        migrate(conn, [MIGRATIONS[0], broken], namespace="docs")
    assert schema_version(conn, "docs") == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "extra" not in tables and "docs" in tables
    assert not conn.in_transaction


def test_callable_migration_raising_rolls_back(tmp_path: Path) -> None:
    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        raise RuntimeError("migration bug")

    conn = connect(tmp_path / "store.db")
    with pytest.raises(RuntimeError, match="migration bug"):
        migrate(conn, [boom], namespace="docs")
    assert schema_version(conn, "docs") == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0


def test_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    conn = connect(path)
    migrate(conn, [*MIGRATIONS, "CREATE TABLE future (x);"], namespace="docs")
    conn.close()
    with pytest.raises(
        StoreError, match="'docs' schema version 3 is newer than this kagura supports \\(2\\)"
    ):
        migrate(connect(path), MIGRATIONS, namespace="docs")


def test_two_connections_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    a, b = connect(path), connect(path)
    counted: list[int] = []

    def count(conn: sqlite3.Connection) -> None:
        counted.append(1)
        conn.execute("CREATE TABLE once (x)")

    migrate(a, [count], namespace="docs")
    assert migrate(b, [count], namespace="docs") == 1
    assert counted == [1]


def test_not_a_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError):
        migrate(connect(path), MIGRATIONS, namespace="docs")


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    conn = connect(tmp_path / "store.db")
    migrate(conn, MIGRATIONS, namespace="docs")
    with pytest.raises(ValueError), transaction(conn):
        conn.execute("INSERT INTO docs (path) VALUES ('kept?')")
        raise ValueError("abort")
    assert conn.execute("SELECT count(*) FROM docs").fetchone()[0] == 0
    conn.execute("BEGIN")
    with pytest.raises(RuntimeError, match="cannot nest"), transaction(conn):
        pass
    conn.rollback()


def test_split_sql_keeps_triggers_and_literals_whole() -> None:
    script = """
    CREATE TABLE t (x TEXT);
    CREATE TRIGGER trg AFTER INSERT ON t BEGIN UPDATE t SET x = x || ';'; END;
    INSERT INTO t VALUES ('a;b');
    """
    parts = split_sql(script)
    assert len(parts) == 3
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        split_sql("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('unterminated")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="busy_timeout"):
        connect(":memory:", busy_timeout=-1)
    with pytest.raises(TypeError, match=r"migrations\[0\]"):
        migrate(connect(":memory:"), [42], namespace="docs")  # type: ignore[list-item]


def test_concurrent_writers_wait_on_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    setup = connect(path)
    migrate(setup, MIGRATIONS, namespace="docs")
    first, second = connect(path), connect(path)
    holding = threading.Event()
    second_started = threading.Event()
    errors: list[BaseException] = []

    def writer_one() -> None:
        with transaction(first):
            first.execute("INSERT INTO docs (path) VALUES ('one')")
            holding.set()
            second_started.wait(timeout=10)
            # Hold the lock a little longer so the other writer is (very likely) blocked in BEGIN IMMEDIATE.
            # The assertions below do not depend on this timing: with a working busy timeout they hold
            # either way; with busy_timeout=0 this overlap makes the second writer fail "database is locked".
            threading.Event().wait(0.2)

    def writer_two() -> None:
        holding.wait(timeout=10)
        second_started.set()
        try:
            with transaction(second):  # blocks on BEGIN IMMEDIATE until writer_one commits
                second.execute("INSERT INTO docs (path) VALUES ('two')")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer_one), threading.Thread(target=writer_two)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sorted(r[0] for r in setup.execute("SELECT path FROM docs")) == ["one", "two"]


# --- namespaces -----------------------------------------------------------------------------------------

NOTES = ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"]


def _versions(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT namespace, version FROM kagura_schema").fetchall())
    finally:
        conn.close()


def test_namespaces_in_one_file_migrate_independently(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    conn = connect(path)
    assert migrate(conn, MIGRATIONS, namespace="docs") == 2
    assert migrate(conn, NOTES, namespace="notes") == 1  # not mistaken for a file already at version 2
    assert migrate(conn, MIGRATIONS, namespace="docs") == 2
    conn.close()
    assert _versions(path) == {"docs": 2, "notes": 1}
    reopened = connect(path)
    assert (schema_version(reopened, "docs"), schema_version(reopened, "notes")) == (2, 1)
    assert schema_version(reopened, "unknown") == 0
    assert reopened.execute("PRAGMA user_version").fetchone()[0] == 0  # never written any more


def test_newer_namespace_is_refused_by_name_and_others_still_open(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    conn = connect(path)
    migrate(conn, MIGRATIONS, namespace="docs")
    migrate(conn, [*NOTES, "CREATE TABLE later (x);"], namespace="notes")
    conn.close()
    with pytest.raises(
        StoreError, match="'notes' schema version 2 is newer than this kagura supports \\(1\\)"
    ):
        migrate(connect(path), NOTES, namespace="notes")
    assert migrate(connect(path), MIGRATIONS, namespace="docs") == 2


@pytest.mark.parametrize("registered", [True, False], ids=["registered", "new-namespace"])
def test_concurrent_connections_migrate_a_namespace_once(tmp_path: Path, registered: bool) -> None:
    path = tmp_path / "store.db"
    runs: list[str] = []
    lock = threading.Lock()

    def first(conn: sqlite3.Connection) -> None:
        with lock:
            runs.append("first")
        threading.Event().wait(0.05)  # widen the window in which the other connection waits for the lock
        conn.execute("CREATE TABLE once (x)")  # a second run would fail: table once already exists

    def second(conn: sqlite3.Connection) -> None:
        with lock:
            runs.append("second")
        conn.execute("CREATE TABLE twice (x)")

    # The file exists (in WAL mode) first: concurrent connects are not what this test is about.
    setup = connect(path)
    if registered:  # every connection reads version 0 before any takes the write lock to migrate
        assert migrate(setup, [], namespace="docs") == 0
    setup.close()
    n = 4
    barrier = threading.Barrier(n)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        conn = connect(path, busy_timeout=30)
        try:
            barrier.wait(timeout=10)
            results.append(migrate(conn, [first, second], namespace="docs"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert results == [2] * n
    assert sorted(runs) == ["first", "second"]
    assert _versions(path) == {"docs": 2}


def _legacy_file(path: Path, user_version: int) -> None:
    """A file as written before namespaces: the schema of MIGRATIONS[0] and its version in user_version."""
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO docs (path) VALUES ('kept.txt')")
    conn.execute(f"PRAGMA user_version = {user_version}")
    conn.commit()
    conn.close()


def test_legacy_file_is_adopted_without_rerunning_migrations(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    _legacy_file(path, 1)
    reran: list[int] = []

    def must_not_run(conn: sqlite3.Connection) -> None:
        reran.append(1)
        conn.executescript(MIGRATIONS[0])

    conn = connect(path)
    # Migration 1 is already in the file (user_version 1): only migration 2 runs.
    assert migrate(conn, [must_not_run, MIGRATIONS[1]], namespace="docs", legacy_probe_table="docs") == 2
    assert reran == []
    assert conn.execute("SELECT path, note FROM docs").fetchall() == [("kept.txt", "a;b")]
    conn.close()
    assert _versions(path) == {"docs": 2}
    # Adopted once: from now on the namespace's row is the truth, user_version is left as it was.
    again = connect(path)
    assert again.execute("PRAGMA user_version").fetchone()[0] == 1
    assert migrate(again, [must_not_run, MIGRATIONS[1]], namespace="docs", legacy_probe_table="docs") == 2
    assert reran == []


def test_legacy_version_belongs_only_to_the_namespace_whose_table_exists(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    _legacy_file(path, 2)
    conn = connect(path)
    # user_version 2 was written by the "docs" store: "notes" (no notes table) starts from 0.
    assert migrate(conn, NOTES, namespace="notes", legacy_probe_table="notes") == 1
    assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0
    # Without a probe table nothing is adopted either.
    assert migrate(conn, NOTES[:0], namespace="other") == 0
    assert _versions(path) == {"notes": 1, "other": 0}


def test_legacy_file_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    _legacy_file(path, 7)
    with pytest.raises(
        StoreError, match="'docs' schema version 7 is newer than this kagura supports \\(2\\)"
    ):
        migrate(connect(path), MIGRATIONS, namespace="docs", legacy_probe_table="docs")


def test_not_a_database_raises_store_error_from_migrate(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    raw = sqlite3.connect(path)  # sqlite3 opens lazily; connect() would already refuse the file
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        migrate(raw, MIGRATIONS, namespace="docs")
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        schema_version(raw, "docs")
    raw.close()


def test_namespace_is_required_and_non_empty() -> None:
    conn = connect(":memory:")
    with pytest.raises(ValueError, match="namespace"):
        migrate(conn, MIGRATIONS, namespace="")
    with pytest.raises(TypeError):
        migrate(conn, MIGRATIONS)  # type: ignore[call-arg]


def test_concurrent_connects_to_a_brand_new_file_all_get_wal(tmp_path: Path) -> None:
    """Switching a new file to WAL needs an exclusive lock; every racing connection must still succeed."""
    n = 8
    for attempt in range(5):  # several fresh files: the race is on the first open of each
        path = tmp_path / f"new-{attempt}.db"
        barrier = threading.Barrier(n)
        modes: list[str] = []
        errors: list[BaseException] = []

        def worker(
            path: Path = path,
            barrier: threading.Barrier = barrier,
            modes: list[str] = modes,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                barrier.wait(timeout=10)
                conn = connect(path, busy_timeout=10)
                migrate(conn, MIGRATIONS, namespace="docs")
                modes.append(conn.execute("PRAGMA journal_mode").fetchone()[0])
                conn.close()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert modes == ["wal"] * n
