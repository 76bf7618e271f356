"""``LocalMiniLMEmbedder``: all-MiniLM-L6-v2 computed locally, no torch.

Recipe of sentence-transformers for this model: WordPiece tokenization truncated at 256 tokens, the BERT
encoder, mean pooling over the attention mask, L2 normalisation. Texts are sorted by token count and
batched under a token budget so padding stays small (every backend gets these buckets); results come back
in input order.

Backends (``backend=``, or the environment variable ``KAGURA_EMBEDDING_BACKEND``):

- ``"numpy"``: the float32 forward pass of :mod:`._bert`; always available.
- ``"onnx"``: the same float32 arithmetic on ONNX Runtime (``kagura[onnx]``); same vectors to ~1e-6.
- ``"onnx-int8"``: ONNX Runtime with dynamic int8 quantization (see :mod:`._onnx`); a little faster
  again, with vectors at cosine >= 0.99 to the float32 ones on real chunks, a bit less on short texts.
- ``"auto"`` (default): ``"onnx"`` when the ``onnx`` extra is installed, else ``"numpy"``. Not int8: its
  small drift moves similarity scores by about 0.01, enough to cross thresholds calibrated on the float
  vectors (semantic routing), for about 20 % less CPU than float32 ONNX (``kagura bench embed``).

:attr:`LocalMiniLMEmbedder.id` (also its ``name``) is what stores record with the vectors:
``"all-MiniLM-L6-v2"`` for the float32 backends (interchangeable), ``"all-MiniLM-L6-v2+onnx-int8"`` for the
quantized one, so a store never mixes vectors that differ. Weights are found (or downloaded on first use)
as :mod:`._weights` describes.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from kagura._checks import check_choice, check_int
from kagura.core.memory.embedders._base import check_texts
from kagura.core.memory.embedders._checkpoint import BertConfig
from kagura.core.memory.embedders._weights import (
    MODEL_NAME,
    MODEL_PATH_ENV,
    find_model_path,
    resolve_model_path,
    sha256_file_cached,
)
from kagura.errors import ConfigurationError

if TYPE_CHECKING:  # the numpy encoder is imported only by the numpy backend
    from kagura.core.memory.embedders._bert import BertEncoder

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "MODEL_PATH_ENV",
    "LocalMiniLMEmbedder",
    "find_model_path",
    "get_default_embedder",
    "onnx_available",
]

BACKEND_ENV = "KAGURA_EMBEDDING_BACKEND"
BACKENDS = ("auto", "numpy", "onnx", "onnx-int8")

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def onnx_available() -> bool:
    """True when ``onnxruntime`` and ``onnx`` are installed (the ``kagura[onnx]`` extra), found without
    importing them (``onnx`` alone takes about a second to import, and a cached graph never needs it)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))
    except (ImportError, ValueError):
        return False


def _numpy_pooled(encoder: BertEncoder) -> Callable[[IntArray, IntArray], FloatArray]:
    def run(ids: IntArray, mask: IntArray) -> FloatArray:
        hidden = encoder.encode(ids, mask)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), np.float32(1e-9))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, np.float32(1e-12))

    return run


class LocalMiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings computed locally; 384 dimensions, unit rows.

    Thread-safe: weights are read-only and tokenization is serialised, so routing and RAG workers may share
    one instance. Use :func:`get_default_embedder` for the process-wide shared one. ``backend`` is one of
    :data:`BACKENDS` (see the module docstring). The ONNX backends run texts on ``threads`` worker threads
    (default: one per core, up to 4), each session call single-threaded: on small matrices, parallel
    texts use the cores better than splitting every matrix product. The numpy backend ignores it.
    """

    max_seq_length = 256

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        backend: str | None = None,
        batch_size: int = 64,
        max_batch_tokens: int = 4096,
        threads: int | None = None,
    ) -> None:
        check_int("batch_size", batch_size)
        check_int("max_batch_tokens", max_batch_tokens)
        check_int("threads", threads, optional=True)
        if not backend and (from_env := os.environ.get(BACKEND_ENV)) and from_env not in BACKENDS:
            raise ConfigurationError(f"{BACKEND_ENV}={from_env!r} is not a backend: use one of {BACKENDS}")
        backend = backend or os.environ.get(BACKEND_ENV) or "auto"
        check_choice("backend", backend, BACKENDS)
        if backend == "auto":
            backend = "onnx" if onnx_available() else "numpy"
        from tokenizers import Tokenizer

        self.model_path = resolve_model_path(model_path)
        self.backend = backend
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        raw_config = json.loads((self.model_path / "config.json").read_text(encoding="utf-8"))
        self.config = BertConfig.from_dict(raw_config)
        self.workers = 1 if backend == "numpy" else (threads or min(os.cpu_count() or 1, 4))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        self.graph_path: Path | None = None
        """The cached ONNX graph in use (None for numpy, or when built in memory)."""
        self._run = self._load_backend()
        tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._tokenizer_lock = threading.Lock()

    def _load_backend(self) -> Callable[[IntArray, IntArray], FloatArray]:
        from safetensors.numpy import load_file

        weights_file = self.model_path / "model.safetensors"
        if self.backend == "numpy":
            from kagura.core.memory.embedders._bert import BertEncoder

            return _numpy_pooled(BertEncoder(self.config, load_file(str(weights_file))))
        from kagura.core.memory.embedders._checkpoint import BertWeights
        from kagura.core.memory.embedders._onnx import OnnxEncoder

        encoder = OnnxEncoder(
            self.config,
            lambda: BertWeights.load(self.config, load_file(str(weights_file))),
            weights_sha256=sha256_file_cached(weights_file),
            quantize="int8" if self.backend == "onnx-int8" else None,
        )
        self.graph_path = encoder.path
        return encoder.embed

    model_name = MODEL_NAME

    @property
    def id(self) -> str:
        """The id stores keep with the vectors: the model, plus the variant when its vectors differ.

        ``"all-MiniLM-L6-v2"`` (numpy and onnx float32 agree to ~1e-6) or ``"all-MiniLM-L6-v2+onnx-int8"``.
        """
        return MODEL_NAME if self.backend in ("numpy", "onnx") else f"{MODEL_NAME}+{self.backend}"

    @property
    def name(self) -> str:
        """Same as :attr:`id`, for stores that key vectors by ``name`` (the model is :attr:`model_name`)."""
        return self.id

    @property
    def dimension(self) -> int:
        """384."""
        return self.config.hidden_size

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Indices grouped by ascending length, each group under the count and padded-token budgets.

        The ONNX backends take one text per batch: no padding at all, and an int8 vector then depends on
        its text only (dynamic quantization scales each input tensor by its own range, so a batch would
        let neighbours shift each other's vectors slightly). Batches run on :attr:`workers` threads.
        """
        if self.backend != "numpy":
            return [[i] for i in sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)]
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            # Sorted ascending, so the newest item sets the padded length of the batch.
            if current and (
                len(current) >= self.batch_size or (len(current) + 1) * lengths[i] > self.max_batch_tokens
            ):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` into an ``(n, 384)`` float32 array of L2-normalised rows (input order)."""
        items = check_texts(texts)
        out = np.zeros((len(items), self.dimension), dtype=np.float32)
        if not items:
            return out
        with self._tokenizer_lock:
            encodings = self._tokenizer.encode_batch(items, add_special_tokens=True)
        lengths = [len(e.ids) for e in encodings]

        def run(batch: list[int]) -> None:
            seq = max(lengths[i] for i in batch)
            ids = np.zeros((len(batch), seq), dtype=np.int64)
            mask = np.zeros((len(batch), seq), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            out[batch] = self._run(ids, mask)

        batches = self._batches(lengths)
        pool = self._worker_pool() if len(batches) > 1 else None
        if pool is None:
            for batch in batches:
                run(batch)
        else:
            for _ in pool.map(run, batches):  # disjoint rows of `out`; re-raises the first error
                pass
        return out

    def _worker_pool(self) -> ThreadPoolExecutor | None:
        """The ONNX backends' pool of ``workers`` threads, one per core (re-created in a forked child)."""
        if self.workers < 2:
            return None
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="kagura-embed")
                self._pool_pid = os.getpid()
            return self._pool

    async def aembed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """:meth:`embed` in a worker thread."""
        items = check_texts(texts)
        return await asyncio.to_thread(self.embed, items)

    def __repr__(self) -> str:
        return f"LocalMiniLMEmbedder(model_path={str(self.model_path)!r}, backend={self.backend!r})"

    def __reduce__(self) -> tuple[object, tuple[str | None, int, int]]:
        """Pickled as how to load it, not as its weights: another process (a Ray worker) loads the model
        from its own disk; the process-wide default unpickles as that process's default."""
        path = None if self is _default else str(self.model_path)
        return _load, (path, self.batch_size, self.max_batch_tokens)


_default: LocalMiniLMEmbedder | None = None
_default_lock = threading.Lock()


def _load(model_path: str | None, batch_size: int, max_batch_tokens: int) -> LocalMiniLMEmbedder:
    """Unpickle a :class:`LocalMiniLMEmbedder`: ``model_path=None`` means the default one."""
    if model_path is None:
        return get_default_embedder()
    return LocalMiniLMEmbedder(model_path, batch_size=batch_size, max_batch_tokens=max_batch_tokens)


def get_default_embedder() -> LocalMiniLMEmbedder:
    """The process-wide shared :class:`LocalMiniLMEmbedder`, loaded on first call (thread-safe)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = LocalMiniLMEmbedder()
    return _default
