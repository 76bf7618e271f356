"""Run the MiniLM graph on ONNX Runtime (needs ``kagura[onnx]``), built once and cached on disk.

The graph is written from the safetensors weights by :mod:`._onnx_graph` (no torch), optionally quantized
with :func:`onnxruntime.quantization.quantize_dynamic`, and saved under ``<kagura cache>/onnx/``, named
``<model>-<weights sha256>-<variant>-g<recipe digest>-ort<version>.onnx``: the key changes whenever the
weights, the graph recipe (the source of this module and of :mod:`._onnx_graph`, hashed: cheaper to read
than kagura's version from the package metadata, and exact) or the quantizer (onnxruntime's version) could.
The graph file holds the operators only; its weights sit beside it in
``<graph>.data`` (ONNX external data), which ONNX Runtime maps from the file instead of copying into the
process: a new process (every ``kagura search``) opens its session in about a third of the CPU time and
memory of a single-file graph. Processes that race to build the same graph each write their own temporary
files and rename them into place, weights first, so a reader only ever opens a complete graph. When the
cache cannot be written the graph is built in memory (one file) for this process only.

Variants (``quantize``):

- ``None``: float32 throughout; vectors match the numpy encoder to about 1e-6.
- ``"int8"``: dynamic int8 quantization (per output channel, signed weights) of the self-attention
  (``QAttention``) and the attention-output and feed-forward up projections. The feed-forward down
  projections stay float32: their inputs are GELU activations with rare large values, which one
  activation scale per tensor cannot cover, and quantizing them costs most of the accuracy.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kagura._cache_dir import cache_dir
from kagura._checks import check_choice, check_int
from kagura._extras import missing_extra
from kagura.core.memory.embedders._checkpoint import BertConfig, BertWeights

__all__ = ["QUANTIZATIONS", "OnnxEncoder", "graph_cache_path", "import_onnxruntime"]

QUANTIZATIONS = (None, "int8")
log = logging.getLogger(__name__)


def import_onnxruntime() -> Any:
    """``onnxruntime``, checking ``onnx`` is there too; else MissingExtraError naming the ``onnx`` extra.

    ``onnx`` is only looked up, not imported (importing it costs about a second): it is needed only to
    build a graph, which a cached graph spares."""
    import importlib.util

    try:
        import onnxruntime
    except ImportError as exc:
        raise missing_extra(exc.name or "onnxruntime", "the ONNX embedding backend") from exc
    if importlib.util.find_spec("onnx") is None:
        raise missing_extra("onnx", "the ONNX embedding backend")
    return onnxruntime


def graph_cache_path(weights_sha256: str, quantize: str | None, *, model: str = "minilm") -> Path:
    """Where the built graph for these weights and variant is cached; see the module docstring."""
    ort = import_onnxruntime()
    variant = quantize or "fp32"
    name = f"{model}-{weights_sha256[:16]}-{variant}-g{_recipe_digest()}-ort{ort.__version__}.onnx"
    return cache_dir() / "onnx" / name


def _recipe_digest() -> str:
    """A digest of the code that writes the cached files (this module and the graph builder)."""
    import hashlib

    digest = hashlib.sha256()
    for source in (Path(__file__), Path(__file__).with_name("_onnx_graph.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def _quantize(source: Path, target: Path, config: BertConfig) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer advises "pre-processing" on the root logger; this graph needs none, so keep users'
    # consoles quiet for the duration of the call.
    root = logging.getLogger()
    root.addFilter(_drop_preprocess_advice)
    try:
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=[f"l{i}_down_matmul" for i in range(config.num_hidden_layers)],
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.removeFilter(_drop_preprocess_advice)


def _drop_preprocess_advice(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


def _build(path: Path, config: BertConfig, weights: BertWeights, quantize: str | None) -> None:
    """Write the graph (quantized if asked) to ``path``, its weights to ``<path>.data``, both atomically."""
    import onnx

    from kagura.core.memory.embedders._onnx_graph import build_graph

    log.info("building the %s ONNX graph once into %s", quantize or "fp32", path)
    model = build_graph(config, weights)
    if quantize is not None:
        # The float graph is only the quantizer's input: private temporary files, always removed.
        with tempfile.TemporaryDirectory(dir=_parent(path), prefix=".quantize-") as tmp:
            onnx.save(model, str(Path(tmp) / "fp32.onnx"))
            _quantize(Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx", config)
            model = onnx.load(str(Path(tmp) / "int8.onnx"))
    _save_with_external_weights(model, path)


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent


def _save_with_external_weights(model: Any, path: Path) -> None:
    """``path`` holds the operators, ``<path>.data`` the weights (ONNX external data, which ONNX Runtime
    maps instead of copying). Both are written in a private temporary directory beside them and renamed into
    place, the weights first: a reader that finds the graph finds its complete weights."""
    import onnx

    data = path.with_name(path.name + ".data")
    with tempfile.TemporaryDirectory(dir=_parent(path), prefix=f".{path.name}.") as tmp:
        graph = Path(tmp) / path.name
        onnx.save_model(
            model, str(graph), save_as_external_data=True, all_tensors_to_one_file=True,
            location=data.name, size_threshold=1024,
        )  # fmt: skip
        os.replace(Path(tmp) / data.name, data)
        os.replace(graph, path)


def _session_options(ort: Any, threads: int) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads sleep instead of spinning: the ingest pipeline needs the cores for other stages.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class OnnxEncoder:
    """Token ids and mask in, unit sentence vectors out, through one ONNX Runtime session.

    Thread-safe: ONNX Runtime sessions accept concurrent ``run`` calls, so callers parallelise across
    texts; ``threads`` is the session's own intra-op pool (1 by default for that reason).
    """

    def __init__(
        self,
        config: BertConfig,
        load_weights: Callable[[], BertWeights],
        *,
        weights_sha256: str,
        quantize: str | None = "int8",
        threads: int = 1,
    ) -> None:
        check_choice("quantize", quantize, QUANTIZATIONS)
        check_int("threads", threads)
        ort = import_onnxruntime()
        self.config = config
        self.quantize = quantize
        self.path: Path | None = graph_cache_path(weights_sha256, quantize)
        options = _session_options(ort, threads)
        with _build_lock:
            if not self.path.is_file():
                try:
                    _build(self.path, config, load_weights(), quantize)
                except OSError as exc:
                    log.warning(
                        "cannot cache the ONNX graph in %s (%s); building it in memory", self.path, exc
                    )
                    self.path = None
        providers = ["CPUExecutionProvider"]
        if self.path is None:
            graph = _in_memory(config, load_weights(), quantize)
            self._session = ort.InferenceSession(graph, options, providers)
            return
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers)
        except Exception as exc:  # onnxruntime raises its own (unexported) error types for a bad file
            # A damaged cache entry costs a rebuild, never a broken embedder.
            log.warning("cached ONNX graph %s is unreadable (%s); rebuilding it", self.path, exc)
            with _build_lock:
                _build(self.path, config, load_weights(), quantize)
            self._session = ort.InferenceSession(str(self.path), options, providers)

    def embed(
        self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """Unit mean-pooled vectors ``(batch, hidden)`` for padded ``(batch, seq)`` ids and mask."""
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        return np.asarray(self._session.run(["embeddings"], feeds)[0], dtype=np.float32)


def _in_memory(config: BertConfig, weights: BertWeights, quantize: str | None) -> bytes:
    """The serialized graph in one piece, for when the cache directory is not writable."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="kagura-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        _build(path, config, weights, quantize)
        return bytes(onnx.load(str(path)).SerializeToString())  # external weights read back in


# Threads of one process building the same graph wait for each other instead of building it twice.
_build_lock = threading.Lock()
