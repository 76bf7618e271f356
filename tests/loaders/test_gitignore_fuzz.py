"""A few hundred generated cases: the scanner keeps exactly what git keeps (see gitignore_fuzz.py).

For thousands: ``PYTHONPATH=src python -m tests.loaders.gitignore_fuzz --cases 5000 --seed 1``.
"""

from __future__ import annotations

import shutil

import pytest
from gitignore_fuzz import fuzz

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_generated_trees_and_ignore_files_agree_with_git(seed: int) -> None:
    outcome = fuzz(cases=100, seed=seed, batch=100)
    assert outcome.mismatches == [], "\n\n".join(outcome.mismatches[:5])
    assert outcome.cases == 100
    # The generator really exercises both verdicts, on hundreds of paths per seed.
    assert outcome.paths > 500
    assert 0.2 < outcome.ignored / outcome.paths < 0.8


def test_generated_cases_laid_at_the_repository_root_agree_with_git() -> None:
    # One repository per case: the root's own anchored patterns and any info/exclude line.
    outcome = fuzz(cases=30, seed=14, at_root=True)
    assert outcome.mismatches == [], "\n\n".join(outcome.mismatches[:5])
    assert outcome.cases == 30
    assert 0 < outcome.ignored < outcome.paths
