"""Memory: text embedders, the SQLite store helpers, exact vector search (and, above them, the RAG).

Public names are imported lazily on first access, so ``import kagura.core.memory`` stays cheap: numpy,
``tokenizers`` and the model weights load only when an embedder is used. Add a public name by adding it to
``_LAZY`` (name -> defining module), to the ``TYPE_CHECKING`` imports and to ``__all__``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kagura.core.memory._answer import Answer
    from kagura.core.memory._rag import MultimodalRAG
    from kagura.core.memory._report import Document, FailedFile, IngestReport, SearchResult, SkippedPath
    from kagura.core.memory._vectors import pack_vector, top_k_cosine, unpack_vectors
    from kagura.core.memory.embedders import (
        Embedder,
        LocalMiniLMEmbedder,
        OpenAIEmbedder,
        SentenceTransformerEmbedder,
        available_embedders,
        get_default_embedder,
        get_embedder,
        register_embedder,
    )

__all__ = [
    "Answer",
    "Document",
    "Embedder",
    "FailedFile",
    "IngestReport",
    "LocalMiniLMEmbedder",
    "MultimodalRAG",
    "OpenAIEmbedder",
    "SearchResult",
    "SentenceTransformerEmbedder",
    "SkippedPath",
    "available_embedders",
    "get_default_embedder",
    "get_embedder",
    "pack_vector",
    "register_embedder",
    "top_k_cosine",
    "unpack_vectors",
]

_LAZY: dict[str, str] = {
    "Answer": "kagura.core.memory._answer",
    "Document": "kagura.core.memory._report",
    "FailedFile": "kagura.core.memory._report",
    "IngestReport": "kagura.core.memory._report",
    "MultimodalRAG": "kagura.core.memory._rag",
    "SearchResult": "kagura.core.memory._report",
    "SkippedPath": "kagura.core.memory._report",
    "Embedder": "kagura.core.memory.embedders",
    "LocalMiniLMEmbedder": "kagura.core.memory.embedders",
    "OpenAIEmbedder": "kagura.core.memory.embedders",
    "SentenceTransformerEmbedder": "kagura.core.memory.embedders",
    "available_embedders": "kagura.core.memory.embedders",
    "get_default_embedder": "kagura.core.memory.embedders",
    "get_embedder": "kagura.core.memory.embedders",
    "pack_vector": "kagura.core.memory._vectors",
    "register_embedder": "kagura.core.memory.embedders",
    "top_k_cosine": "kagura.core.memory._vectors",
    "unpack_vectors": "kagura.core.memory._vectors",
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
