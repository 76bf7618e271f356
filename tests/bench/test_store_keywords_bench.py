"""``kagura bench store`` row 4 on a slice of real text: every keyword ranking identical on both stores."""

from __future__ import annotations

from pathlib import Path

from kagura.bench._store_keywords import keyword_row
from kagura.testing import PostgresServer


def test_every_keyword_ranking_of_real_text_matches(tmp_path: Path, postgres_server: PostgresServer) -> None:
    row = keyword_row(400, postgres_server.new_database, tmp_path)
    assert "over 400 chunks" in row.operation
    assert row.items >= 40
    assert row.extra["identical_rankings"] == f"{row.items}/{row.items}"
