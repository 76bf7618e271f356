"""Memory: the RAG (ingestion, search, stores, engines), text embedders, and conversation memory.

Public names are imported lazily on first access, so ``import kagura.core.memory`` stays cheap: numpy,
``tokenizers`` and the model weights load only when an embedder is used. Add a public name by importing it
under ``TYPE_CHECKING`` (that import is also where the lazy lookup finds its module) and naming it in
``__all__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kagura._lazy import lazy_exports

if TYPE_CHECKING:
    from kagura.core.memory._rag import MultimodalRAG
    from kagura.core.memory._report import Document, IngestReport, SearchResult
    from kagura.core.memory.conversation import ConversationMemory
    from kagura.core.memory.engines import RayEngine

    # isort: split
    # Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
    from kagura.core.memory._report import FailedFile, SkippedPath  # noqa: F401
    from kagura.core.memory.embedders import (  # noqa: F401
        Embedder,
        LocalMiniLMEmbedder,
        OpenAIEmbedder,
        SentenceTransformerEmbedder,
        available_embedders,
        get_default_embedder,
        get_embedder,
        register_embedder,
    )
    from kagura.core.memory.engines import Engine, LocalEngine  # noqa: F401
    from kagura.core.memory.ingestion._describe_plan import MediaToDescribe  # noqa: F401
    from kagura.core.memory.search._answer import Answer  # noqa: F401
    from kagura.core.memory.search._grouping import best_per_file  # noqa: F401
    from kagura.core.memory.stores._vectors import pack_vector, top_k_cosine, unpack_vectors  # noqa: F401

__all__ = [
    "ConversationMemory",
    "Document",
    "IngestReport",
    "MultimodalRAG",
    "RayEngine",
    "SearchResult",
]

__getattr__, __dir__ = lazy_exports(__name__, __all__)
