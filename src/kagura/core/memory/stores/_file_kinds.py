"""What kind of file a path names, in the words people use when they ask about it.

A question about a container build rarely says "Dockerfile", and one about the web server's body size
limit rarely says "nginx.conf": the words of the question ("container", "image", "web server", "proxy")
are in the prose pages *about* those files, not in the files. :func:`file_kind_words` gives short
configuration and build files the words of their kind, by name: the keyword index adds them to the file's
name column (both stores, :func:`keyword_name`) and the embedded header of each chunk names the kind
(:func:`kind_label`), so a short file whose name or kind matches the question can outrank the prose.
"""

from __future__ import annotations

from pathlib import PurePosixPath

__all__ = ["file_kind_words", "keyword_name", "kind_label"]

_BY_NAME: dict[str, str] = {
    "dockerfile": "Docker container image build file",
    "containerfile": "container image build file",
    "caddyfile": "Caddy web server reverse proxy config",
    "makefile": "Make build targets",
    "gnumakefile": "Make build targets",
    "justfile": "just command runner recipes",
    "procfile": "process types start commands",
    "vagrantfile": "Vagrant virtual machine config",
    "pyproject.toml": "Python project packaging and tool settings",
    "setup.cfg": "Python package setup settings",
    "tox.ini": "tox Python test environments",
    "package.json": "npm Node.js package scripts dependencies",
    "tsconfig.json": "TypeScript compiler options",
    "cargo.toml": "Rust Cargo package manifest",
    "go.mod": "Go module dependencies",
    "requirements.txt": "Python dependencies requirements",
    ".env": "environment variables",
}
_BY_STEM_PREFIX: tuple[tuple[str, str], ...] = (
    ("docker-compose", "Docker Compose container services"),
    ("compose", "Docker Compose container services"),
    ("nginx", "nginx web server reverse proxy config"),
    ("dockerfile", "Docker container image build file"),
)
_BY_SUFFIX: dict[str, str] = {
    ".yaml": "YAML config",
    ".yml": "YAML config",
    ".toml": "TOML config",
    ".ini": "INI config",
    ".cfg": "config",
    ".conf": "config",
    ".properties": "config properties",
    ".service": "systemd service unit",
    ".tf": "Terraform infrastructure config",
}
_BY_FOLDER: tuple[tuple[str, str], ...] = (
    (".github/workflows", "GitHub Actions CI workflow"),
    ("k8s", "Kubernetes manifest"),
    ("kubernetes", "Kubernetes manifest"),
    ("helm", "Helm chart"),
    ("nginx", "nginx web server"),
    ("caddy", "Caddy web server"),
)


def file_kind_words(relpath: str) -> str:
    """The kind of the file at ``relpath`` in plain words (``""`` for prose, code and unknown kinds)."""
    path = PurePosixPath(relpath)
    name = path.name.lower()
    words = _BY_NAME.get(name, "")
    if not words:
        stem = name.split(".", 1)[0]
        words = next((w for prefix, w in _BY_STEM_PREFIX if stem.startswith(prefix)), "")
    if not words:
        words = _BY_SUFFIX.get(path.suffix.lower(), "")
    folder = path.parent.as_posix().lower()
    extra = next((w for part, w in _BY_FOLDER if part in folder.split("/") or folder.endswith(part)), "")
    return " ".join(w for w in (words, extra) if w)


def keyword_name(relpath: str) -> str:
    """The keyword index's ``name`` column of a file: its name, then its kind's words."""
    name = PurePosixPath(relpath).name
    kind = file_kind_words(relpath)
    return f"{name} {kind}" if kind else name


def kind_label(relpath: str) -> str:
    """The embedded header's path part: ``relpath`` and, when known, ``(its kind)``."""
    kind = file_kind_words(relpath)
    return f"{relpath} ({kind})" if kind else relpath
