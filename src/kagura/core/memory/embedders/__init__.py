"""Text embedders: the :class:`Embedder` protocol, the local numpy MiniLM default and alternatives.

Names are resolved lazily, so importing this package does not import numpy, ``tokenizers`` or any SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

__all__ = [
    "Embedder",
    "LocalMiniLMEmbedder",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "available_embedders",
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
    "get_default_embedder": "kagura.core.memory.embedders._minilm",
    "get_embedder": "kagura.core.memory.embedders._base",
    "register_embedder": "kagura.core.memory.embedders._base",
}


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
