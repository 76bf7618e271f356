"""Exact cosine top-k search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kagura._sqlite import connect
from kagura.core.memory.stores._vectors import pack_vector, top_k_cosine, unpack_vectors


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, d)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def brute_force(m: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[int]:
    scores = m @ (q / np.linalg.norm(q))
    idx = [i for i in range(len(m)) if mask is None or mask[i]]
    return sorted(idx, key=lambda i: (-scores[i], i))[:k]


def test_matches_brute_force_best_first() -> None:
    m = unit_rows(500, 16)
    q = np.random.default_rng(1).standard_normal(16).astype(np.float32)
    result = top_k_cosine(m, q, 10)
    assert [i for i, _ in result] == brute_force(m, q, 10)
    scores = [s for _, s in result]
    assert scores == sorted(scores, reverse=True)
    expected = m[result[0][0]] @ (q / np.linalg.norm(q))
    assert result[0][1] == pytest.approx(float(expected), abs=1e-6)
    assert all(isinstance(i, int) and isinstance(s, float) for i, s in result)


def test_identical_vector_scores_one() -> None:
    m = unit_rows(50, 8)
    (best, score), *_ = top_k_cosine(m, m[17] * 3.0, 3)  # query need not be normalised
    assert best == 17 and score == pytest.approx(1.0, abs=1e-6)


def test_mask_is_applied_before_top_k() -> None:
    m = unit_rows(300, 12, seed=2)
    q = m[5]
    mask = np.zeros(300, dtype=bool)
    mask[[7, 100, 250, 299]] = True  # row 5 (the best overall) is filtered out
    result = top_k_cosine(m, q, 3, mask=mask)
    assert len(result) == 3
    assert [i for i, _ in result] == brute_force(m, q, 3, mask)
    assert {i for i, _ in result} <= {7, 100, 250, 299}


def test_k_larger_than_allowed_rows_returns_all_allowed() -> None:
    m = unit_rows(5, 4)
    assert len(top_k_cosine(m, m[0], 50)) == 5
    mask = np.array([False, True, False, True, False])
    assert sorted(i for i, _ in top_k_cosine(m, m[0], 50, mask=mask)) == [1, 3]
    assert top_k_cosine(m, m[0], 2, mask=np.zeros(5, dtype=bool)) == []


def test_empty_matrix() -> None:
    assert top_k_cosine(np.zeros((0, 384), dtype=np.float32), np.ones(384, dtype=np.float32), 5) == []


def test_ties_are_ordered_by_row_index_even_at_the_cut() -> None:
    m = np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (10, 1))
    m[3] = [0.0, 1.0]
    assert [i for i, _ in top_k_cosine(m, np.array([1.0, 0.0]), 4)] == [0, 1, 2, 4]


def test_zero_query_gives_zero_scores() -> None:
    m = unit_rows(4, 3)
    assert [s for _, s in top_k_cosine(m, np.zeros(3), 4)] == [0.0] * 4


def test_query_of_shape_1_by_d_is_accepted() -> None:
    m = unit_rows(20, 6)
    assert top_k_cosine(m, m[3][None, :], 1)[0][0] == 3


@pytest.mark.parametrize(
    ("matrix", "query", "mask", "message"),
    [
        (np.zeros(4), np.zeros(4), None, "matrix must be 2-D"),
        (np.zeros((3, 4)), np.zeros(5), None, r"query must have shape \(4,\)"),
        (np.zeros((3, 4)), np.zeros((2, 4)), None, "query must have shape"),
        (np.zeros((3, 4)), np.zeros(4), np.ones(2, dtype=bool), "mask must be a boolean array"),
        (np.zeros((3, 4)), np.zeros(4), np.ones(3, dtype=int), "mask must be a boolean array"),
    ],
)
def test_wrong_shapes_raise_value_error(
    matrix: np.ndarray, query: np.ndarray, mask: np.ndarray | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        top_k_cosine(matrix, query, 1, mask=mask)


def test_bad_k() -> None:
    m = unit_rows(3, 2)
    with pytest.raises(ValueError, match="k must be >= 1"):
        top_k_cosine(m, m[0], 0)
    with pytest.raises(TypeError, match="k must be an int"):
        top_k_cosine(m, m[0], 2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="k must be an int"):
        top_k_cosine(m, m[0], True)


def test_pack_and_unpack_round_trip_through_sqlite(tmp_path: Path) -> None:
    m = unit_rows(5, 384)
    conn = connect(tmp_path / "v.db")
    conn.execute("CREATE TABLE v (id INTEGER PRIMARY KEY, vec BLOB NOT NULL)")
    with conn:
        conn.executemany("INSERT INTO v (vec) VALUES (?)", [(pack_vector(row),) for row in m])
    blobs = [r[0] for r in conn.execute("SELECT vec FROM v ORDER BY id")]
    assert len(blobs[0]) == 384 * 4
    restored = unpack_vectors(blobs, 384)
    assert restored.dtype == np.float32 and restored.flags.writeable
    np.testing.assert_array_equal(restored, m)
    assert unpack_vectors([], 384).shape == (0, 384)


def test_pack_and_unpack_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="1-D"):
        pack_vector(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="blob 1 holds 8 bytes, expected 12"):
        unpack_vectors([b"\0" * 12, b"\0" * 8], 3)
    with pytest.raises(ValueError, match="dimension"):
        unpack_vectors([], 0)
