"""Plain command-line values coerced without building typer's pydantic validators.

typer (0.29 and later) turns every parameter's value into its Python type through a pydantic
``TypeAdapter`` built on first use: importing pydantic and building one adapter per parameter costs
about 0.14 s of CPU in every ``kagura`` process, a third of a ``kagura search``. Most values need none of
it: an absent option (``None``), a string for a ``str`` parameter, decimal digits for an ``int``, a
default already of its type. :class:`PlainValues` returns exactly what typer's adapter returns for those,
and hands every other value (anything unusual, anything out of range, every error) to typer's own
coercion, built then: error messages and results stay typer's, and the parameters keep their one
definition (the ``typer.Option``/``typer.Argument`` of each command).

:func:`coerce_plain_values` installs it on a command's parameters. It relies on typer's lazily built
``_runtime_param`` slot; with a typer without one (before 0.29) it leaves the parameters as they are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["PlainValues", "coerce_plain_values"]

_DIGITS = re.compile(r"[0-9]{1,18}")
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,15})?")
_NOT_PLAIN = object()


class PlainValues:
    """Coerces one parameter's plain values itself, the rest through typer's coercion (built on demand)."""

    def __init__(self, param: Any) -> None:
        descriptor = param.type_descriptor
        info = descriptor.parameter_info
        self._descriptor = descriptor
        self._single = param.nargs == 1 and not param.multiple and descriptor.file_annotation is None
        self._parser = info.parser
        self._kind = (
            descriptor.annotation
            if descriptor.annotation in (str, int, float) and not descriptor.is_choice and not info.clamp
            else None
        )
        self._min, self._max = info.min, info.max
        self._typer: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        """The value typer would give the command (same signature as typer's runtime parameter)."""
        plain = self._plain(value) if self._single else _NOT_PLAIN
        if plain is not _NOT_PLAIN:
            return plain
        if self._typer is None:
            from typer._coercion import build_runtime_param

            self._typer = build_runtime_param(self._descriptor)
        return self._typer.coerce(value, param=param, ctx=ctx)

    def _plain(self, value: Any) -> Any:
        if value is None:
            return None
        if self._parser is not None:
            try:  # a parser typer would run as is; one that refuses goes through typer for its message
                return self._parser(value)
            except Exception:
                return _NOT_PLAIN
        if self._kind is str:
            return value if type(value) is str else _NOT_PLAIN
        if self._kind is int:
            number: Any = (
                value
                if type(value) is int
                else int(value)
                if type(value) is str and _DIGITS.fullmatch(value)
                else None
            )
        elif self._kind is float:
            number = (
                value
                if type(value) is float and math.isfinite(value)
                else float(value)
                if type(value) is str and _DECIMAL.fullmatch(value)
                else None
            )
        else:
            return _NOT_PLAIN
        if number is None or not self._in_range(number):
            return _NOT_PLAIN
        return number

    def _in_range(self, number: float) -> bool:
        return (self._min is None or number >= self._min) and (self._max is None or number <= self._max)


def coerce_plain_values(params: Iterable[Any]) -> None:
    """Give each typer parameter in ``params`` a :class:`PlainValues` (see the module docstring)."""
    for param in params:
        if getattr(param, "_runtime_param", _NOT_PLAIN) is None and hasattr(param, "type_descriptor"):
            param._runtime_param = PlainValues(param)
