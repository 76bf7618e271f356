"""Start-up of the default embedder in a new process (what every ``kagura search`` pays): with the ONNX graph
cached, neither the ``onnx`` package (about a second to import) nor a full read of the weights is needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kagura._cache_dir import CACHE_DIR_ENV
from kagura.core.memory.embedders._weights import sha256_file, sha256_file_cached

_PROBE = (
    "import sys\n"
    "from kagura.core.memory import get_default_embedder\n"
    "e = get_default_embedder()\n"
    "assert e.backend == 'onnx', e.backend\n"
    "e.embed(['a query'])\n"
    "print('onnx' in sys.modules, 'ml_dtypes' in sys.modules)\n"
)


def test_a_second_process_loads_the_cached_graph_without_importing_onnx() -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    env = {k: v for k, v in os.environ.items() if k != "KAGURA_EMBEDDING_BACKEND"}
    probe = [sys.executable, "-c", _PROBE]
    subprocess.run(probe, check=True, env=env, capture_output=True)  # builds the graph if not cached yet
    second = subprocess.run(probe, check=True, env=env, capture_output=True, text=True)
    assert second.stdout.split() == ["False", "False"], second.stdout


def test_weights_digest_is_remembered_by_path_size_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 5000)
    stamp = weights.stat().st_mtime_ns
    first = sha256_file_cached(weights)
    assert first == sha256_file(weights)
    weights.write_bytes(b"b" * 5000)  # same size; the old time put back: the remembered digest answers
    os.utime(weights, ns=(stamp, stamp))
    assert sha256_file_cached(weights) == first
    os.utime(weights, ns=(stamp + 10**9, stamp + 10**9))  # a changed time: read again
    assert sha256_file_cached(weights) == sha256_file(weights) != first
    (tmp_path / "cache").chmod(0o500)  # an unwritable cache only costs the read
    try:
        weights.write_bytes(b"c" * 10)
        assert sha256_file_cached(weights) == sha256_file(weights)
    finally:
        (tmp_path / "cache").chmod(0o700)


_ANON_PROBE = (
    "import onnxruntime, tokenizers, numpy\n"
    "from kagura.core.memory import LocalMiniLMEmbedder\n"
    "def anon():\n"
    "    status = open('/proc/self/status').read().splitlines()\n"
    "    return int(next(x for x in status if x.startswith('RssAnon')).split()[1]) * 1024\n"
    "before = anon()\n"
    "e = LocalMiniLMEmbedder(backend='onnx')\n"
    "e.embed(['a query'])\n"
    "print(anon() - before, e.graph_path)\n"
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RssAnon from /proc")
def test_a_second_process_maps_the_cached_weights_instead_of_copying_them(tmp_path: Path) -> None:
    """The cached graph keeps its weights in ``<graph>.data`` beside it, which ONNX Runtime maps from the
    file: opening the session no longer copies the 90 MB of weights into the process (what made a
    ``kagura search`` process pay ~0.1 s of CPU and ~120 MB before its first query)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    env = {**os.environ, CACHE_DIR_ENV: str(tmp_path / "cache")}
    env.pop("KAGURA_EMBEDDING_BACKEND", None)
    probe = [sys.executable, "-c", _ANON_PROBE]
    subprocess.run(probe, check=True, env=env, capture_output=True)  # the first process builds the graph
    grown, graph = subprocess.run(probe, check=True, env=env, capture_output=True, text=True).stdout.split()
    weights = Path(graph).with_name(Path(graph).name + ".data").stat().st_size
    assert weights > 80 * 2**20
    assert int(grown) < weights, (int(grown) / 2**20, weights / 2**20)
