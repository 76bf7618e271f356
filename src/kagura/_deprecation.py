"""Old names kept for one release: they still work and say, with a ``DeprecationWarning``, what to use.

- :func:`renamed` — a method or function renamed in place (``aload`` → ``load``);
- :func:`module_getattr` — a package's ``__getattr__`` for names taken out of its ``__all__`` (import them
  from where the warning says; the object is the same).

Imports nothing from kagura: every layer may use it.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["module_getattr", "renamed"]

_F = TypeVar("_F", bound=Callable[..., Any])


def renamed(old: str, new: str, func: _F) -> _F:
    """``func`` under its old name ``old``: each call warns that ``new`` is the name now."""

    @functools.wraps(func)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(f"{old} is deprecated and will be removed: use {new}", DeprecationWarning, stacklevel=2)
        return func(*args, **kwargs)

    return alias  # type: ignore[return-value]


def module_getattr(package: str, moved: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``moved`` (old name -> ``"module:attribute"``) with a warning."""

    def __getattr__(name: str) -> Any:
        target = moved.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = target.partition(":")
        warnings.warn(
            f"{package}.{name} is no longer a public name of {package} and will be removed: "
            f"import it from {module} instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), attr)

    return __getattr__
