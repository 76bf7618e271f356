"""One exception tree: every error kagura raises on purpose is a KaguraError, drawn in kagura.errors.

The state errors that used to be bare ``RuntimeError``s are :class:`UsageError` (still a RuntimeError, so
``except RuntimeError`` keeps working).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kagura
import kagura.errors as errors
from kagura.core.parallel import parallel_stream, run_sync
from kagura.errors import InternalError, KaguraError, UsageError, WorkerProcessError
from kagura.testing import FakeLLMServer

SRC = Path(kagura.__file__).parent


def test_every_error_class_is_drawn_in_the_tree_and_is_a_kagura_error() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert re.search(rf"[─ ]{name}\b", doc), f"{name} is missing from the tree in kagura.errors"
        assert issubclass(getattr(errors, name), KaguraError)


def test_no_bare_runtime_errors_are_raised() -> None:
    raised = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"raise RuntimeError\b", line)
    ]
    assert raised == []


@pytest.mark.parametrize("cls", [UsageError, WorkerProcessError, InternalError])
def test_the_new_errors_are_still_runtime_errors(cls: type[Exception]) -> None:
    assert issubclass(cls, KaguraError) and issubclass(cls, RuntimeError)


async def test_a_blocking_wrapper_inside_a_running_loop_is_a_usage_error() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(UsageError, match="await"):
        run_sync(nothing())


async def test_a_stream_entered_twice_is_a_usage_error() -> None:
    async def echo(x: int) -> int:
        return x

    stream = parallel_stream(echo, [1])
    async with stream as outcomes:
        assert [o.value async for o in outcomes] == [1]
    with pytest.raises(UsageError, match="only once"):
        async with stream:
            pass


def test_a_fake_server_used_before_it_started_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not started"):
        _ = FakeLLMServer().base_url
