"""Shared pytest configuration."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

pytest_plugins = ["kagura.testing.pytest_plugin"]

_saved_env: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Keep built ONNX graphs in a private cache for the session, and never download model weights."""
    for name, value in {
        "KAGURA_CACHE_DIR": tempfile.mkdtemp(prefix="kagura-test-cache-"),
        "KAGURA_EMBEDDING_DOWNLOAD": "0",
    }.items():
        _saved_env[name] = os.environ.get(name)
        os.environ[name] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    cache = os.environ.get("KAGURA_CACHE_DIR")
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if cache and os.path.basename(cache).startswith("kagura-test-cache-"):
        shutil.rmtree(cache, ignore_errors=True)
