"""Lazy re-exports for package ``__init__`` modules: public names imported on first access.

::

    __getattr__, __dir__ = lazy_exports(__name__, {"Name": "package._module"}, __all__)

keeps ``import package`` cheap while ``from package import Name`` and ``package.Name`` still work.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kagura._extras import import_optional

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, lazy: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``: ``lazy`` maps name -> defining module.

    A name is imported from its module the first time it is asked for, then cached in the package's
    namespace so later lookups cost nothing. A missing optional dependency raises
    :class:`~kagura.errors.MissingExtraError` naming the extra to install.
    """

    def __getattr__(name: str) -> Any:
        try:
            module = lazy[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(import_optional(module, f"{package}.{name}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
