"""One cache directory for all kagura can rebuild: the LLM response cache, embedding weights, ONNX graphs.

The environment decides it (``KAGURA_CACHE_DIR``, else ``$XDG_CACHE_HOME/kagura`` on Linux,
``~/Library/Caches/kagura`` on macOS); every user of a cache asks the same function.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kagura._cache_dir import cache_dir
from kagura.core.llm import LLMConfig

_UNIX_ONLY = pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the XDG rule applies on Linux")


@pytest.fixture
def no_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.delenv("KAGURA_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


@_UNIX_ONLY
def test_the_llm_response_cache_honours_xdg_cache_home(
    no_override: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_override.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert LLMConfig(model="m").cache_path == tmp_path / "xdg" / "kagura" / "llm_cache.sqlite"
    assert cache_dir() == tmp_path / "xdg" / "kagura"


@_UNIX_ONLY
def test_without_xdg_the_cache_is_under_the_home_dot_cache(
    no_override: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert cache_dir() == tmp_path / "home" / ".cache" / "kagura"
    no_override.setenv("XDG_CACHE_HOME", "relative/dir")  # the XDG spec: relative values are ignored
    assert cache_dir() == tmp_path / "home" / ".cache" / "kagura"


@pytest.mark.skipif(sys.platform != "darwin", reason="macOS only")
def test_macos_uses_library_caches(no_override: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_override.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "home" / "Library" / "Caches" / "kagura"


def test_kagura_cache_dir_overrides_everything(no_override: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_override.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    no_override.setenv("KAGURA_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    assert LLMConfig(model="m").cache_path == tmp_path / "mine" / "llm_cache.sqlite"


def test_every_cache_shares_one_root_in_a_fresh_process(tmp_path: Path) -> None:
    """The LLM cache, the downloaded weights and the ONNX graphs all land under ``$XDG_CACHE_HOME/kagura``."""
    env = {k: v for k, v in os.environ.items() if k != "KAGURA_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    code = (
        "import json\n"
        "from kagura.core.llm import LLMConfig\n"
        "from kagura.core.memory.embedders._weights import download_dir\n"
        "from kagura.core.memory.embedders._onnx import graph_cache_path\n"
        "paths = [LLMConfig(model='m').cache_path, download_dir(), graph_cache_path('0' * 64, None)]\n"
        "print(json.dumps([str(p) for p in paths]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    paths = [Path(p) for p in json.loads(out.stdout)]
    expected = tmp_path / "home" / "Library" / "Caches" / "kagura" if sys.platform == "darwin" else None
    root = expected or tmp_path / "xdg" / "kagura"
    assert all(p.is_relative_to(root) for p in paths), paths
