"""Exact cosine top-k search over an in-memory matrix of unit vectors (numpy, no index to build).

One matrix-vector product scores every row, ``argpartition`` finds the best ``k`` in linear time and only
those ``k`` are sorted. A boolean ``mask`` (e.g. a file-type filter) removes rows *before* the top-k is
taken, so a filter never returns fewer results than exist.

``pack_vector`` / ``unpack_vectors`` store vectors in SQLite BLOBs as little-endian float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from kagura._checks import check_int

__all__ = ["pack_vector", "top_k_cosine", "unpack_vectors"]

_BLOB_DTYPE = np.dtype("<f4")


def pack_vector(vector: npt.ArrayLike) -> bytes:
    """A 1-D vector as little-endian float32 bytes (4 bytes per dimension), for a SQLite BLOB."""
    arr = np.asarray(vector)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"pack_vector takes a non-empty 1-D vector, got shape {arr.shape}")
    return arr.astype(_BLOB_DTYPE, copy=False).tobytes()


def unpack_vectors(blobs: Sequence[bytes], dimension: int) -> npt.NDArray[np.float32]:
    """Stack BLOBs from :func:`pack_vector` into an ``(n, dimension)`` native float32 matrix."""
    if dimension < 1:
        raise ValueError("dimension must be >= 1")
    if not blobs:
        return np.zeros((0, dimension), dtype=np.float32)
    size = 4 * dimension
    for i, blob in enumerate(blobs):
        if len(blob) != size:
            raise ValueError(f"blob {i} holds {len(blob)} bytes, expected {size} ({dimension} float32)")
    flat = np.frombuffer(b"".join(blobs), dtype=_BLOB_DTYPE)
    return flat.reshape(len(blobs), dimension).astype(np.float32)


def _check_k(k: object) -> int:
    return check_int("k", k)


def top_k_cosine(
    matrix: npt.ArrayLike,
    query: npt.ArrayLike,
    k: int,
    mask: npt.ArrayLike | None = None,
) -> list[tuple[int, float]]:
    """The ``k`` rows of ``matrix`` most similar to ``query``, best first, as ``(row index, score)``.

    ``matrix`` is ``(n, d)`` with L2-normalised rows (what every kagura embedder returns); ``query`` is a
    ``(d,)`` vector (or ``(1, d)``), normalised here, so the score is the cosine similarity. ``mask`` is a
    boolean ``(n,)`` array of the rows allowed; it is applied before taking the top ``k``. Fewer than
    ``k`` results come back when fewer rows are allowed; an empty matrix gives ``[]``. Equal scores are
    ordered by row index. Raises ``ValueError`` for shapes that do not fit together.
    """
    k = _check_k(k)
    m = np.asarray(matrix, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D (n, d), got shape {m.shape}")
    if q.ndim == 2 and q.shape[0] == 1:
        q = q[0]
    if q.ndim != 1 or q.shape[0] != m.shape[1]:
        raise ValueError(f"query must have shape ({m.shape[1]},) to match matrix {m.shape}, got {q.shape}")
    allowed: npt.NDArray[np.intp] | None = None
    if mask is not None:
        mask_arr = np.asarray(mask)
        if mask_arr.dtype != np.bool_ or mask_arr.shape != (m.shape[0],):
            raise ValueError(
                f"mask must be a boolean array of shape ({m.shape[0]},), "
                f"got {mask_arr.dtype} {mask_arr.shape}"
            )
        allowed = np.flatnonzero(mask_arr)
    if m.shape[0] == 0 or (allowed is not None and allowed.size == 0):
        return []

    norm = float(np.linalg.norm(q))
    if norm > 0.0:
        q = q / np.float32(norm)
    scores = m @ q
    if allowed is not None:
        scores = scores[allowed]
    n = scores.shape[0]
    if k < n:
        # The k-th best score; every row reaching it is a candidate, so ties at the cut are settled by
        # row index below rather than by argpartition's arbitrary pick.
        threshold = scores[np.argpartition(-scores, k - 1)[k - 1]]
        candidates = np.flatnonzero(scores >= threshold)
    else:
        candidates = np.arange(n)
    rows = candidates if allowed is None else allowed[candidates]
    order = np.lexsort((rows, -scores[candidates]))[:k]  # best first, then lower row index
    return [(int(rows[i]), float(scores[candidates[i]])) for i in order]
