"""Lazy re-exports for package ``__init__`` modules: public names imported on first access.

::

    if TYPE_CHECKING:
        from package._module import Name       # what type checkers see, and the lazy table

    __all__ = ["Name"]                          # the public names, written once
    __getattr__, __dir__ = lazy_exports(__name__, __all__)

keeps ``import package`` cheap while ``from package import Name`` and ``package.Name`` still work. The
table of which module defines which name is read from the package's own ``if TYPE_CHECKING:`` imports
(parsed once, on the first lazy lookup), so no second list of names is kept by hand.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kagura._extras import import_optional

__all__ = ["lazy_exports", "type_checking_imports"]


def type_checking_imports(source: str) -> dict[str, tuple[str, str]]:
    """``name -> (module, attribute)`` for each ``from m import a [as name]`` under ``if TYPE_CHECKING:``."""
    table: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
                    for alias in statement.names:
                        table[alias.asname or alias.name] = (statement.module, alias.name)
    return table


def lazy_exports(
    package: str, public: Sequence[str] | Mapping[str, str], legacy_public: Sequence[str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    ``lazy_exports(__name__, __all__)`` finds each name's module in the package's ``TYPE_CHECKING``
    imports; the older ``lazy_exports(__name__, {"Name": "package._module"}, __all__)`` form still works.
    A name is imported from its module the first time it is asked for, then cached in the package's
    namespace so later lookups cost nothing. A missing optional dependency raises
    :class:`~kagura.errors.MissingExtraError` naming the extra to install.
    """
    if legacy_public is None:
        names: Sequence[str] = list(public)
        given: dict[str, tuple[str, str]] | None = None
    else:
        names = legacy_public
        given = {name: (module, name) for name, module in dict(public).items()}  # type: ignore[arg-type]
    table: dict[str, tuple[str, str]] | None = given

    def lookup(name: str) -> tuple[str, str] | None:
        nonlocal table
        if table is None:
            source = Path(sys.modules[package].__file__ or "").read_text(encoding="utf-8")
            table = type_checking_imports(source)
        return table.get(name)

    def __getattr__(name: str) -> Any:
        found = lookup(name)
        if found is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = found
        value = getattr(import_optional(module, f"{package}.{name}"), attr)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
