"""``store_url``: every test taking it runs twice, on an SQLite file and on a fresh PostgreSQL database, so
the two stores cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "store" / "kagura.db"
    return str(request.getfixturevalue("postgres_url"))
