"""Optional dependencies: which pip extra installs which import, and the one error when one is missing.

``pip install kagura`` brings only what the scheduler and the LLM layer need (``openai``). Everything else
is an extra (see ``pyproject.toml``): ``[rag]`` ingestion, embeddings and the store, ``[cli]`` the command
line, ``[testing]`` the fake server, ``[plot]``, ``[gemini]`` and the scale-out backends. Code reaching an
optional module goes through :func:`import_optional` (or :func:`missing_extra`), so the user reads
"pip install 'kagura[rag]'" instead of a bare ``No module named 'numpy'``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from kagura.errors import MissingExtraError

__all__ = ["EXTRA_OF", "import_optional", "missing_extra"]

#: top-level import name -> (pip package, extra that installs it)
EXTRA_OF: dict[str, tuple[str, str]] = {
    "anthropic": ("anthropic", "anthropic"),
    "charset_normalizer": ("charset-normalizer", "rag"),
    "docx": ("python-docx", "rag"),
    "google": ("google-genai", "gemini"),
    "jsonschema": ("jsonschema", "structured"),
    "matplotlib": ("matplotlib", "plot"),
    "mutagen": ("mutagen", "rag"),
    "numpy": ("numpy", "rag"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "opentelemetry": ("opentelemetry-api", "otel"),
    "pgvector": ("pgvector", "postgres"),
    "PIL": ("pillow", "rag"),
    "psycopg": ("psycopg", "postgres"),
    "psycopg_pool": ("psycopg-pool", "postgres"),
    "pypdf": ("pypdf", "rag"),
    "ray": ("ray", "ray"),
    "redis": ("redis", "redis"),
    "rich": ("rich", "cli"),
    "safetensors": ("safetensors", "rag"),
    "aiohttp": ("aiohttp", "testing"),
    "tokenizers": ("tokenizers", "rag"),
    "typer": ("typer", "cli"),
}


def missing_extra(module: str, feature: str | None = None) -> MissingExtraError:
    """The error for a missing optional module (an import name like ``"numpy"`` or a pip name).

    ``feature`` says what needed it ("ingestion", "the fake server"); the message names the extra.
    """
    root = module.split(".")[0]
    by_pip = {pip: (name, extra) for name, (pip, extra) in EXTRA_OF.items()}
    if root in EXTRA_OF:
        pip, extra = EXTRA_OF[root]
    elif root in by_pip:
        pip, extra = root, by_pip[root][1]
        root = by_pip[root][0]
    else:
        return MissingExtraError(
            f"{feature or 'this feature'} needs {module!r}: pip install {module}", name=root
        )
    what = feature or f"this part of kagura (it imports {root!r})"
    return MissingExtraError(
        f"{what} needs the {pip!r} package from the [{extra}] extra: pip install 'kagura[{extra}]'",
        name=root,
        extra=extra,
    )


def import_optional(module: str, feature: str | None = None) -> ModuleType:
    """``importlib.import_module(module)``; a missing optional dependency raises :class:`MissingExtraError`.

    Only a dependency listed in :data:`EXTRA_OF` is translated; any other import failure (a bug, a missing
    kagura module) propagates unchanged.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root not in EXTRA_OF:
            raise
        raise missing_extra(root, feature) from None
