"""kagura: run many LLM calls concurrently inside agent pipelines.

Subpackages, lowest layer first: ``kagura.core.parallel`` (the scheduler), ``kagura.core.llm`` (LLM calls),
``kagura.loaders`` (scan and extract files), ``kagura.core.memory`` (embeddings, SQLite store, RAG),
``kagura.routing`` (agent routing), ``kagura.testing`` (fakes for tests), ``kagura.cli``.
Importing ``kagura`` itself is cheap: nothing heavy is imported until used (``__version__`` included:
reading package metadata costs tens of milliseconds, so it is looked up on first access).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__: str  # resolved by __getattr__ on first access


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'kagura' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("kagura")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        value = "0.0.0"
    globals()["__version__"] = value
    return value
