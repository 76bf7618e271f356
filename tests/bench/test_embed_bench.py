"""``kagura bench embed``: the chunks it measures on, and the rows it reports (never how fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kagura.bench.embed import measure, real_chunks


def test_real_chunks_are_deterministic_slices_of_the_standard_library(tmp_path: Path) -> None:
    chunks = real_chunks(30)
    assert chunks == real_chunks(30)
    assert len(chunks) == 30 and len(set(chunks)) == 30
    assert all(len(c) >= 200 for c in chunks)
    (tmp_path / "one.py").write_text("x = 1\n" * 300)  # 1,800 characters: two chunks
    assert len(real_chunks(2, root=tmp_path)) == 2
    with pytest.raises(ValueError, match="only 2 chunks"):
        real_chunks(3, root=tmp_path)


def test_every_option_is_compared_with_numpy_on_the_same_chunks() -> None:
    pytest.importorskip("onnxruntime")
    rows = measure(3, 1)
    labels = [row.operation for row in rows]
    assert labels[0].startswith("numpy fp32 (today)")
    assert any("onnx-int8" in label for label in labels) and any("onnx fp32" in label for label in labels)
    assert all(row.serial_s == rows[0].parallel_s for row in rows)  # one baseline for every ratio
    assert rows[0].extra["cosine_min"] == 1.0
    for row in rows:
        assert row.extra["quality_gate"] is True and row.extra["chunks_per_s"] > 0
    ids = {row.extra["embedder_id"] for row in rows}
    assert ids == {"all-MiniLM-L6-v2", "all-MiniLM-L6-v2+onnx-int8"}
