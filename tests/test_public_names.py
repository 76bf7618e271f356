"""The public surface: each package's ``__all__`` (written once), at most 90 names over the user packages."""

from __future__ import annotations

import importlib
import runpy
import warnings
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "public_names.py"
tool = runpy.run_path(str(SCRIPT))

# the names ../shared/DESIGN.md's "Public contract" imports
CONTRACT = {
    "kagura.core.parallel": ["parallel_gather", "parallel_map", "parallel_map_unordered", "RateLimiter"],
    "kagura.core.llm": ["LLMConfig", "call_llm", "complete"],
    "kagura.core.memory": ["MultimodalRAG"],
    "kagura.routing": ["AgentRouter", "ContextAnalyzer", "MemoryAwareRouter"],
}


def test_the_public_surface_stays_at_most_90_names() -> None:
    counts = {package: len(names) for package, names in tool["public_names"]().items()}
    assert sum(counts.values()) <= tool["LIMIT"] == 90, counts


def test_the_script_prints_the_count_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert tool["main"]([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].split()[0] == "total" and int(lines[-1].split()[1]) <= 90
    assert {line.split()[0] for line in lines[:-1]} == set(tool["PACKAGES"])


@pytest.mark.parametrize("package", tool["PACKAGES"])
def test_every_public_name_resolves_and_is_listed_once(package: str) -> None:
    module = importlib.import_module(package)
    assert len(set(module.__all__)) == len(module.__all__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a public name is never a deprecated one
        for name in module.__all__:
            assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))


@pytest.mark.parametrize(("package", "names"), CONTRACT.items())
def test_the_design_contract_is_public(package: str, names: list[str]) -> None:
    assert set(names) <= set(importlib.import_module(package).__all__)


def test_lazy_packages_find_modules_in_their_type_checking_imports() -> None:
    """No second hand-written table: the lazy lookup reads the package's own TYPE_CHECKING imports."""
    from kagura._lazy import type_checking_imports

    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pkg._a import A\n"
        "    from pkg._b import B as C, d\n"
        "from pkg._e import E\n"
    )
    assert type_checking_imports(source) == {"A": ("pkg._a", "A"), "C": ("pkg._b", "B"), "d": ("pkg._b", "d")}
    for package in ("kagura.core.memory", "kagura.core.memory.stores", "kagura.testing"):
        module = importlib.import_module(package)
        assert not hasattr(module, "_LAZY")
        with pytest.raises(AttributeError, match="no attribute"):
            _ = module.does_not_exist


async def test_renamed_sync_twins_still_work_for_one_release(tmp_path: Path) -> None:
    from kagura.core.llm import Attachment, ResponseCache

    (tmp_path / "note.txt").write_text("hi")
    with pytest.warns(DeprecationWarning, match="Attachment.load"):
        old = await Attachment.aload(tmp_path / "note.txt")
    assert old == await Attachment.load(tmp_path / "note.txt")
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with pytest.warns(DeprecationWarning, match="count_sync"):
        assert cache.count_blocking() == 0
    assert await cache.count() == cache.count_sync() == 0
