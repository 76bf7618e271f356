"""Memory: the RAG (ingestion, search, stores, engines), text embedders, and conversation memory.

Public names are imported lazily on first access, so ``import kagura.core.memory`` stays cheap: numpy,
``tokenizers`` and the model weights load only when an embedder is used. Add a public name by adding it to
``_LAZY`` (name -> defining module), to the ``TYPE_CHECKING`` imports and to ``__all__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kagura._lazy import lazy_exports

if TYPE_CHECKING:
    from kagura.core.memory._rag import MultimodalRAG
    from kagura.core.memory._report import Document, FailedFile, IngestReport, SearchResult, SkippedPath
    from kagura.core.memory.conversation import ConversationMemory
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
    from kagura.core.memory.engines import Engine, LocalEngine, RayEngine
    from kagura.core.memory.search._answer import Answer
    from kagura.core.memory.search._grouping import best_per_file
    from kagura.core.memory.search._vectors import pack_vector, top_k_cosine, unpack_vectors

__all__ = [
    "Answer",
    "ConversationMemory",
    "Document",
    "Embedder",
    "Engine",
    "FailedFile",
    "IngestReport",
    "LocalEngine",
    "LocalMiniLMEmbedder",
    "MultimodalRAG",
    "OpenAIEmbedder",
    "RayEngine",
    "SearchResult",
    "SentenceTransformerEmbedder",
    "SkippedPath",
    "available_embedders",
    "best_per_file",
    "get_default_embedder",
    "get_embedder",
    "pack_vector",
    "register_embedder",
    "top_k_cosine",
    "unpack_vectors",
]

_LAZY: dict[str, str] = {
    "Answer": "kagura.core.memory.search._answer",
    "ConversationMemory": "kagura.core.memory.conversation",
    "Document": "kagura.core.memory._report",
    "Embedder": "kagura.core.memory.embedders",
    "Engine": "kagura.core.memory.engines",
    "FailedFile": "kagura.core.memory._report",
    "IngestReport": "kagura.core.memory._report",
    "LocalEngine": "kagura.core.memory.engines",
    "LocalMiniLMEmbedder": "kagura.core.memory.embedders",
    "MultimodalRAG": "kagura.core.memory._rag",
    "OpenAIEmbedder": "kagura.core.memory.embedders",
    "RayEngine": "kagura.core.memory.engines",
    "SearchResult": "kagura.core.memory._report",
    "SentenceTransformerEmbedder": "kagura.core.memory.embedders",
    "SkippedPath": "kagura.core.memory._report",
    "available_embedders": "kagura.core.memory.embedders",
    "best_per_file": "kagura.core.memory.search._grouping",
    "get_default_embedder": "kagura.core.memory.embedders",
    "get_embedder": "kagura.core.memory.embedders",
    "pack_vector": "kagura.core.memory.search._vectors",
    "register_embedder": "kagura.core.memory.embedders",
    "top_k_cosine": "kagura.core.memory.search._vectors",
    "unpack_vectors": "kagura.core.memory.search._vectors",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
