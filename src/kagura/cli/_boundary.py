"""The one error boundary every ``kagura`` command runs inside.

``BoundaryGroup`` is the click group class of the root typer app, so every command and sub-command
(``kagura budget show``, ``kagura store migrate``) is invoked through ``invoke`` below, whether it runs
from the console script or from ``typer.testing.CliRunner``. What escapes a command becomes one line on
stderr and an exit code, never a traceback:

* kagura's own errors (``KaguraError``): ``error: <message>``, exit 1;
* the operating system refusing a file (``OSError``): ``error: <file>: <reason>``, exit 1;
* running out of memory: one line, exit 1;
* Ctrl-C: ``interrupted``, exit 130;
* anything else is a bug in kagura: ``error: internal error (<type>: <message>)`` naming how to see the
  traceback (``KAGURA_DEBUG=1`` re-raises it), exit 1.

Secrets never reach the line: ``--api-key``'s value and the keys in the environment are replaced by ``***``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from kagura.cli._coercion import coerce_plain_values
from kagura.cli._commands import help_order
from kagura.cli._errors import fail

__all__ = ["DEBUG_ENV", "EXIT_INTERRUPTED", "BoundaryGroup", "describe_exception"]

#: Set to 1 to see the traceback of an unexpected error instead of its one-line summary.
DEBUG_ENV = "KAGURA_DEBUG"
#: The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

_SECRET_FLAGS = ("--api-key",)


def _secrets_in(args: list[str]) -> list[str]:
    """The values given to secret flags in ``args`` (``--api-key K`` and ``--api-key=K``)."""
    found = []
    for i, arg in enumerate(args):
        for flag in _SECRET_FLAGS:
            if arg == flag and i + 1 < len(args):
                found.append(args[i + 1])
            elif arg.startswith(flag + "="):
                found.append(arg[len(flag) + 1 :])
    return found


def describe_exception(exc: BaseException) -> str:
    """One line saying what went wrong, for an exception that escaped a command."""
    from kagura.errors import KaguraError

    if isinstance(exc, KaguraError):
        return str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        names = [os.fsdecode(n) for n in (exc.filename, exc.filename2) if n is not None]
        return f"{' -> '.join(names)}: {reason}" if names else reason
    if isinstance(exc, MemoryError):
        return "out of memory: the input or a size asked for is too large for this machine"
    return (
        f"internal error ({type(exc).__name__}: {exc}); this is a bug in kagura, please report it"
        f" ({DEBUG_ENV}=1 shows the traceback)"
    )


class BoundaryGroup(TyperGroup):
    """The root group: runs the chosen command and turns whatever escapes it into one line."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # --version and --help, coerced without pydantic
        coerce_plain_values(params)
        return params

    def list_commands(self, ctx: Any) -> list[str]:
        return help_order(super().list_commands(ctx))  # one order, whichever module registered first

    def invoke(self, ctx: Any) -> Any:  # (typer's own click Context)
        # the command line left to the sub-command (typer keeps its name and leading words apart)
        args = [str(a) for a in (*vars(ctx).get("_protected_args", ()), *ctx.args)]
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):  # usage errors and exits: typer prints them
            raise
        except BrokenPipeError:  # the reader went away (`kagura ... | head`): nothing more to say
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
                raise
            raise fail(describe_exception(exc), *_secrets_in(args)) from None
