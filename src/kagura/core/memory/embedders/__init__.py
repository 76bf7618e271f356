"""Text embedders: the :class:`Embedder` protocol, the local MiniLM default and alternatives.

The local MiniLM runs on ONNX Runtime when ``kagura[onnx]`` is installed, else in numpy (same vectors); its
weights are found on disk or downloaded once into the user cache (:func:`download_model`).

Names are resolved lazily, so importing this package does not import numpy, ``tokenizers`` or any SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kagura._lazy import lazy_exports

if TYPE_CHECKING:
    from kagura.core.memory.embedders._base import (
        Embedder,
        available_embedders,
        get_embedder,
        register_embedder,
    )
    from kagura.core.memory.embedders._minilm import LocalMiniLMEmbedder, get_default_embedder
    from kagura.core.memory.embedders._openai import OpenAIEmbedder
    from kagura.core.memory.embedders._st import SentenceTransformerEmbedder
    from kagura.core.memory.embedders._weights import download_model

__all__ = [
    "Embedder",
    "LocalMiniLMEmbedder",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "available_embedders",
    "download_model",
    "get_default_embedder",
    "get_embedder",
    "register_embedder",
]

_LAZY: dict[str, str] = {
    "Embedder": "kagura.core.memory.embedders._base",
    "LocalMiniLMEmbedder": "kagura.core.memory.embedders._minilm",
    "OpenAIEmbedder": "kagura.core.memory.embedders._openai",
    "SentenceTransformerEmbedder": "kagura.core.memory.embedders._st",
    "available_embedders": "kagura.core.memory.embedders._base",
    "download_model": "kagura.core.memory.embedders._weights",
    "get_default_embedder": "kagura.core.memory.embedders._minilm",
    "get_embedder": "kagura.core.memory.embedders._base",
    "register_embedder": "kagura.core.memory.embedders._base",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
