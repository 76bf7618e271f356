"""The ONNX Runtime backends: same vectors as numpy on real text, input order, graph cache, fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kagura.bench.embed import real_chunks
from kagura.core.memory import LocalMiniLMEmbedder
from kagura.core.memory.embedders._onnx import OnnxEncoder
from kagura.errors import ConfigurationError

pytest.importorskip("onnxruntime")

SHORT_TEXTS = ["hello world", "How do I reset my password?", "Wetterbericht für Tokio", "", "x = 1"]


@pytest.fixture(scope="module")
def numpy_emb() -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder(backend="numpy")


@pytest.fixture(scope="module")
def int8_emb() -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder(backend="onnx-int8")


@pytest.fixture(scope="module")
def held_chunks() -> list[str]:
    """Real ~800-character chunks of the standard library, as ingestion would cut them."""
    return real_chunks(24)


def test_fp32_backend_reproduces_numpy_on_real_chunks(
    numpy_emb: LocalMiniLMEmbedder, held_chunks: list[str]
) -> None:
    onnx = LocalMiniLMEmbedder(backend="onnx")
    np.testing.assert_allclose(onnx.embed(held_chunks), numpy_emb.embed(held_chunks), atol=1e-5)
    assert onnx.id == numpy_emb.id == numpy_emb.name == "all-MiniLM-L6-v2"  # interchangeable in a store


def test_int8_backend_passes_the_quality_gate_on_real_chunks(
    numpy_emb: LocalMiniLMEmbedder, int8_emb: LocalMiniLMEmbedder, held_chunks: list[str]
) -> None:
    cosines = np.sum(int8_emb.embed(held_chunks) * numpy_emb.embed(held_chunks), axis=1)
    assert cosines.min() >= 0.99, (cosines.min(), cosines.mean())
    # Short texts (queries) lose a little more, and still rank like the float vectors.
    short = np.sum(int8_emb.embed(SHORT_TEXTS) * numpy_emb.embed(SHORT_TEXTS), axis=1)
    assert short.min() >= 0.98, short


def test_int8_retrieval_agrees_with_float(
    numpy_emb: LocalMiniLMEmbedder, int8_emb: LocalMiniLMEmbedder, held_chunks: list[str]
) -> None:
    # What int8 guarantees on every CPU (AVX2, AVX-512 VNNI: their integer kernels round differently): vectors
    # close to fp32's, and fp32's best chunk among int8's best few. Not that both argmaxes agree bit for bit:
    # two near-tied chunks may swap places from one CPU to the next.
    queries = [chunk.strip().splitlines()[0][:80] for chunk in held_chunks]
    exact_q, exact_c = numpy_emb.embed(queries), numpy_emb.embed(held_chunks)
    quant_q, quant_c = int8_emb.embed(queries), int8_emb.embed(held_chunks)
    cosines = np.sum(exact_q * quant_q, axis=1) / (
        np.linalg.norm(exact_q, axis=1) * np.linalg.norm(quant_q, axis=1)
    )
    assert cosines.min() > 0.97, cosines.min()
    exact_best = (exact_q @ exact_c.T).argmax(axis=1)
    quant_top3 = np.argsort(-(quant_q @ quant_c.T), axis=1)[:, :3]
    misses = [i for i, best in enumerate(exact_best) if best not in quant_top3[i]]
    assert misses == []
    # and retrieval stays useful: int8 finds the query's own chunk first for nearly every query
    own_first = sum(int(best == i) for i, best in enumerate((quant_q @ quant_c.T).argmax(axis=1)))
    exact_own_first = sum(int(best == i) for i, best in enumerate(exact_best))
    assert own_first >= exact_own_first - max(2, len(queries) // 10)


def test_ids_name_the_backend_when_vectors_differ(int8_emb: LocalMiniLMEmbedder) -> None:
    assert int8_emb.id == int8_emb.name == "all-MiniLM-L6-v2+onnx-int8"
    assert int8_emb.model_name == "all-MiniLM-L6-v2"
    assert int8_emb.dimension == 384


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=12))
def test_results_come_back_in_input_order_and_depend_on_the_text_only(
    int8_emb: LocalMiniLMEmbedder, texts: list[str]
) -> None:
    together = int8_emb.embed(texts)
    alone = np.stack([int8_emb.embed([t])[0] for t in texts])
    # One text per session call: neither the order nor the neighbours change a single bit.
    np.testing.assert_array_equal(together, alone)


def test_numpy_buckets_keep_input_order(numpy_emb: LocalMiniLMEmbedder) -> None:
    texts = [("word " * n).strip() for n in (40, 1, 90, 7, 3, 60, 2)]  # lengths out of order
    small = LocalMiniLMEmbedder(backend="numpy", batch_size=2, max_batch_tokens=64)
    assert [len(b) for b in small._batches([41, 3, 91, 9, 5, 61, 4])] == [2, 2, 1, 1, 1]
    np.testing.assert_allclose(
        small.embed(texts), np.stack([numpy_emb.embed([t])[0] for t in texts]), atol=2e-5
    )


def _graphs(cache: Path) -> list[str]:
    """The cached graphs; each must have its weights file beside it, and nothing else may be left."""
    names = sorted(p.name for p in (cache / "onnx").iterdir())
    graphs = [n for n in names if n.endswith(".onnx")]
    assert names == sorted([*graphs, *(f"{g}.data" for g in graphs)]), names
    return graphs


def test_graph_is_built_once_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, int8_emb: LocalMiniLMEmbedder
) -> None:
    monkeypatch.setenv("KAGURA_CACHE_DIR", str(tmp_path))
    fp32 = LocalMiniLMEmbedder(backend="onnx")
    assert fp32.graph_path is not None and fp32.graph_path.parent == tmp_path / "onnx"
    assert _graphs(tmp_path) == [fp32.graph_path.name]  # one complete graph, no temporary files left
    assert "-fp32-" in fp32.graph_path.name and "53aa51172d142c89" in fp32.graph_path.name  # weights hash
    assert int8_emb.graph_path is not None and "-int8-" in int8_emb.graph_path.name
    # Put the int8 graph where the float one belongs: a new embedder must load it, not rebuild.
    texts = ["cached graphs are reused", "def f(x):\n    return x\n"]
    before = fp32.embed(texts)
    fp32.graph_path.write_bytes(int8_emb.graph_path.read_bytes())  # it names its weights file: copy it too
    int8_weights = int8_emb.graph_path.with_name(int8_emb.graph_path.name + ".data")
    (fp32.graph_path.parent / int8_weights.name).write_bytes(int8_weights.read_bytes())
    reused = LocalMiniLMEmbedder(backend="onnx").embed(texts)
    np.testing.assert_array_equal(reused, int8_emb.embed(texts))
    assert not np.allclose(reused, before, atol=1e-4)


def test_a_damaged_cached_graph_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, numpy_emb: LocalMiniLMEmbedder
) -> None:
    monkeypatch.setenv("KAGURA_CACHE_DIR", str(tmp_path))
    first = LocalMiniLMEmbedder(backend="onnx")
    assert first.graph_path is not None
    first.graph_path.write_bytes(b"not an onnx graph")
    again = LocalMiniLMEmbedder(backend="onnx")
    np.testing.assert_allclose(again.embed(["rebuilt"]), numpy_emb.embed(["rebuilt"]), atol=1e-5)
    weights = first.graph_path.with_name(first.graph_path.name + ".data")
    assert weights.stat().st_size > 1_000_000 and _graphs(tmp_path) == [first.graph_path.name]
    weights.write_bytes(b"weights cut short")  # damaged weights: rebuilt the same way
    third = LocalMiniLMEmbedder(backend="onnx")
    np.testing.assert_allclose(third.embed(["rebuilt"]), numpy_emb.embed(["rebuilt"]), atol=1e-5)
    assert weights.stat().st_size > 1_000_000


def test_unwritable_cache_builds_the_graph_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, numpy_emb: LocalMiniLMEmbedder
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("KAGURA_CACHE_DIR", str(blocker))
    emb = LocalMiniLMEmbedder(backend="onnx")
    np.testing.assert_allclose(emb.embed(["still works"]), numpy_emb.embed(["still works"]), atol=1e-5)


_BUILDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    go = Path(sys.argv[1])
    while not go.exists():
        time.sleep(0.01)
    from kagura.core.memory import LocalMiniLMEmbedder
    vec = LocalMiniLMEmbedder(backend="onnx").embed(["built by racing processes"])
    sys.stdout.write(",".join(f"{v:.6f}" for v in vec[0][:8]))
    """
)


def test_concurrent_processes_build_one_complete_graph(
    tmp_path: Path, numpy_emb: LocalMiniLMEmbedder
) -> None:
    cache, go = tmp_path / "cache", tmp_path / "go"
    env = {**os.environ, "KAGURA_CACHE_DIR": str(cache), "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILDER, str(go)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    go.touch()  # all three start building at once
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    expected = ",".join(f"{v:.6f}" for v in numpy_emb.embed(["built by racing processes"])[0][:8])
    assert len(set(outputs)) == 1
    assert np.allclose(
        [float(v) for v in outputs[0].split(",")], [float(v) for v in expected.split(",")], atol=2e-6
    )
    names = _graphs(cache)
    assert len(names) == 1 and names[0].endswith(".onnx")  # one graph, no temporaries left behind


_NO_ONNXRUNTIME = "import sys; sys.modules['onnxruntime'] = None\n"


def test_falls_back_to_numpy_when_onnxruntime_is_missing() -> None:
    code = _NO_ONNXRUNTIME + textwrap.dedent(
        """
        from kagura.core.memory import get_default_embedder, LocalMiniLMEmbedder
        from kagura.errors import ConfigurationError
        emb = get_default_embedder()
        print(emb.backend, emb.name, emb.embed(["fallback"]).shape)
        try:
            LocalMiniLMEmbedder(backend="onnx-int8")
        except ConfigurationError as exc:
            print("error:", exc)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("KAGURA_EMBEDDING_BACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[0] == "numpy all-MiniLM-L6-v2 (1, 384)"
    assert lines[1].startswith("error:") and "pip install 'kagura[onnx]'" in lines[1]


def test_backend_choice_and_bad_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGURA_EMBEDDING_BACKEND", "numpy")
    assert LocalMiniLMEmbedder().backend == "numpy"
    with pytest.raises(ValueError, match="backend must be one of"):
        LocalMiniLMEmbedder(backend="gpu")
    with pytest.raises(ValueError, match="threads must be >= 1"):
        LocalMiniLMEmbedder(backend="onnx", threads=0)
    with pytest.raises(ValueError, match="quantize must be one of"):
        OnnxEncoder(None, lambda: None, weights_sha256="0" * 64, quantize="int4")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        LocalMiniLMEmbedder(model_path=Path("/nonexistent/model"), backend="onnx")
