from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "src" / "kagura" / "demo_corpus"


@pytest.fixture
def corpus() -> Path:
    """The committed sample corpus (regenerate with scripts/make_sample_corpus.py)."""
    assert CORPUS.is_dir(), f"missing {CORPUS}: run python scripts/make_sample_corpus.py"
    return CORPUS
