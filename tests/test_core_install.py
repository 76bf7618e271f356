"""The core install: importing the scheduler and the LLM layer pulls in no extra, and a missing extra is
reported by name (one line on the command line), never as a bare ``No module named ...``.

Each check runs in a fresh interpreter. "Not installed" is simulated there by an import hook that refuses
the named top-level packages, exactly as a core-only environment would (``ModuleNotFoundError``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import tomllib
from pathlib import Path

import pytest

from kagura._extras import EXTRA_OF, missing_extra
from kagura.errors import ConfigurationError, MissingExtraError
from kagura.loaders._optional import missing_library

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")
HEAVY = ["numpy", "typer", "rich", "aiohttp", "tokenizers", "safetensors", "PIL", "pypdf", "docx",
         "mutagen", "charset_normalizer", "matplotlib", "google.genai", "redis", "psycopg",
         "ray"]  # fmt: skip

_BLOCK = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
"""


def _python(code: str, blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    script = f"BLOCKED = {blocked!r}\n{_BLOCK}\n{textwrap.dedent(code)}"
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "HOME": tempfile.gettempdir()},
    )  # fmt: skip


def test_core_imports_pull_in_no_extra() -> None:
    result = _python(
        f"""
        import json, sys
        import kagura, kagura.errors, kagura.core.parallel, kagura.core.llm
        from kagura.core.llm import LLMConfig, call_llm
        from kagura.core.parallel import parallel_map, RateLimiter
        from kagura.testing import FakeProvider
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_core_llm_works_with_every_extra_missing() -> None:
    blocked = tuple(sorted({name.split(".")[0] for name in HEAVY}))
    result = _python(
        """
        import asyncio
        from kagura.core.llm import LLMConfig, call_llm
        from kagura.testing import FakeProvider
        print(asyncio.run(call_llm("hi", LLMConfig(model="fake", provider="fake"))))
        """,
        blocked,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_rag_without_numpy_names_the_rag_extra() -> None:
    result = _python(
        """
        from kagura.errors import MissingExtraError
        try:
            from kagura.core.memory import MultimodalRAG
        except ImportError as exc:  # also a MissingExtraError (a ConfigurationError)
            assert isinstance(exc, MissingExtraError), type(exc)
            print(exc.extra, exc.name, "|", exc)
        """,
        ("numpy",),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rag numpy |")
    assert "pip install 'kagura[rag]'" in result.stdout


def test_semantic_routing_without_numpy_names_the_rag_extra() -> None:
    result = _python(
        """
        from kagura.routing import AgentRouter
        from kagura.errors import MissingExtraError
        try:
            AgentRouter(strategy="semantic")
        except MissingExtraError as exc:
            print(exc)
        """,
        ("numpy",),
    )
    assert "kagura[rag]" in result.stdout, result.stderr


@pytest.mark.parametrize(
    ("blocked", "args", "extra"),
    [(("typer",), ["--help"], "cli"), (("rich",), ["--version"], "cli"),
     (("aiohttp",), ["fake-llm", "--port", "0"], "testing")],
)  # fmt: skip
def test_cli_with_a_missing_extra_is_one_line_naming_it(
    blocked: tuple[str, ...], args: list[str], extra: str
) -> None:
    result = _python(f"import sys; sys.argv = ['kagura', *{args!r}]\nimport runpy\n"
                     "runpy.run_module('kagura.cli', run_name='__main__')", blocked)  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'kagura[{extra}]'" in lines[0], result.stderr


def test_extractor_libraries_name_the_rag_extra() -> None:
    for pip_name in ("pypdf", "python-docx", "pillow", "charset-normalizer", "mutagen"):
        error = missing_library(pip_name)
        assert isinstance(error, ConfigurationError) and isinstance(error, ImportError)
        assert "pip install 'kagura[rag]'" in str(error), str(error)
    unknown = missing_extra("leftpad")
    assert (
        isinstance(unknown, MissingExtraError)
        and unknown.extra is None
        and "pip install leftpad" in str(unknown)
    )


def test_the_extras_table_agrees_with_pyproject() -> None:
    """Every package kagura maps to an extra is listed in that extra, and [all] holds every extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]

    def names(requirements: list[str]) -> set[str]:
        return {
            r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in requirements
        }

    for module, (pip_name, extra) in EXTRA_OF.items():
        assert pip_name.lower().split("[")[0] in names(extras[extra]) | {"psycopg-pool"}, (module, extra)
    assert project["dependencies"] == ["openai>=1.40"]
    all_extras = extras["all"][0].split("[")[1].rstrip("]").split(",")
    assert set(all_extras) == set(extras) - {"all", "test", "sentence-transformers"}
    assert not any("minilm" in r.lower() for reqs in extras.values() for r in reqs)


def test_ingest_without_the_rag_extra_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    args = ["ingest", str(tmp_path), "--store", str(tmp_path / "k.db"), "--offline"]
    result = _python(f"import sys; sys.argv = ['kagura', *{args!r}]\nimport runpy\n"
                     "runpy.run_module('kagura.cli', run_name='__main__')", ("numpy",))  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "pip install 'kagura[rag]'" in result.stderr.strip().splitlines()[-1]
