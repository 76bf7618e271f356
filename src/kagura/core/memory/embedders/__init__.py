"""Text embedders: the :class:`Embedder` protocol, the local MiniLM default and alternatives.

The local MiniLM runs on ONNX Runtime when ``kagura[onnx]`` is installed, else in numpy (same vectors); its
weights are found on disk or downloaded once into the user cache (:func:`download_model`).

Names are resolved lazily, so importing this package does not import numpy, ``tokenizers`` or any SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kagura._lazy import lazy_exports

if TYPE_CHECKING:
    from kagura.core.memory.embedders._base import Embedder, get_embedder, register_embedder
    from kagura.core.memory.embedders._minilm import LocalMiniLMEmbedder

    # isort: split
    # Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
    from kagura.core.memory.embedders._base import available_embedders  # noqa: F401
    from kagura.core.memory.embedders._minilm import get_default_embedder  # noqa: F401
    from kagura.core.memory.embedders._openai import OpenAIEmbedder  # noqa: F401
    from kagura.core.memory.embedders._st import SentenceTransformerEmbedder  # noqa: F401
    from kagura.core.memory.embedders._weights import download_model  # noqa: F401

__all__ = [
    "Embedder",
    "LocalMiniLMEmbedder",
    "get_embedder",
    "register_embedder",
]

__getattr__, __dir__ = lazy_exports(__name__, __all__)
