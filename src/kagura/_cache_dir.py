"""The one place kagura keeps files it can rebuild or fetch again: the LLM response cache
(``llm_cache.sqlite``), downloaded embedding weights (``models/``, ``sha256/``), ONNX graphs (``onnx/``).

``KAGURA_CACHE_DIR`` when set; otherwise the platform's user cache directory: ``$XDG_CACHE_HOME/kagura``
or ``~/.cache/kagura`` on Linux and other Unixes, ``~/Library/Caches/kagura`` on macOS,
``%LOCALAPPDATA%\\kagura\\Cache`` on Windows. Nothing in it is precious: deleting it only costs a rebuild,
a download or a repeated (paid) LLM call. Imports nothing from kagura: every layer may use it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "atomic_path", "cache_dir"]

CACHE_DIR_ENV = "KAGURA_CACHE_DIR"


def cache_dir() -> Path:
    """kagura's user cache directory (not created here); see the module docstring."""
    if env := os.environ.get(CACHE_DIR_ENV):
        return Path(env).expanduser()
    if sys.platform == "win32" and (local := os.environ.get("LOCALAPPDATA")):
        return Path(local) / "kagura" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "kagura"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative value is invalid and ignored
        return Path(xdg) / "kagura"
    return Path.home() / ".cache" / "kagura"


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final``, moved onto it with :func:`os.replace` if the block succeeds.

    Readers see either no file or a complete one, and processes racing to write the same file each write
    their own temporary and the last rename wins; on error the temporary is removed.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
