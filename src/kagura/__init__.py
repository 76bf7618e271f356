"""kagura: run many LLM calls concurrently inside agent pipelines.

Subpackages, lowest layer first: ``kagura.core.parallel`` (the scheduler), ``kagura.core.llm`` (LLM calls),
``kagura.loaders`` (scan and extract files), ``kagura.core.memory`` (embeddings, SQLite store, RAG),
``kagura.routing`` (agent routing), ``kagura.testing`` (fakes for tests), ``kagura.cli``.
Importing ``kagura`` itself is cheap: nothing heavy is imported until used.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kagura")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
