"""``SentenceTransformerEmbedder``: any sentence-transformers model (needs ``kagura[sentence-transformers]``).

An alternative to the numpy default for users who already have torch; the library is imported only when
an instance is created, and a missing install raises :class:`~kagura.errors.ConfigurationError`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kagura.core.memory.embedders._base import check_texts
from kagura.errors import ConfigurationError

__all__ = ["SentenceTransformerEmbedder"]


class SentenceTransformerEmbedder:
    """Embeddings from ``sentence_transformers.SentenceTransformer(model)``, L2-normalised float32 rows."""

    def __init__(
        self,
        model: str = "sentence-transformers/all-MiniLM-L6-v2",
        *,
        device: str | None = "cpu",
        batch_size: int = 32,
        **model_kwargs: Any,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        try:
            from sentence_transformers import SentenceTransformer  # pyright: ignore[reportMissingImports]
        except ImportError as exc:
            raise ConfigurationError(
                "SentenceTransformerEmbedder needs the optional extra: "
                "pip install 'kagura[sentence-transformers]' (or use the built-in LocalMiniLMEmbedder)"
            ) from exc
        self.model_name = model
        self.batch_size = batch_size
        self._model: Any = SentenceTransformer(model, device=device, **model_kwargs)
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The model name as given (without an organisation prefix)."""
        return self.model_name.rsplit("/", 1)[-1]

    @property
    def dimension(self) -> int:
        """The model's sentence embedding dimension."""
        return int(self._model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` into ``(n, dimension)`` float32 unit rows; blocking, serialised per instance."""
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                items,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    async def aembed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """:meth:`embed` in a worker thread."""
        items = check_texts(texts)
        return await asyncio.to_thread(self.embed, items)
