"""One validation convention at every public entry point (kagura._checks).

A bool or a value of the wrong type is a ``TypeError``; NaN, infinities, negatives and out-of-range values
are a ``ValueError``; either way the message names the argument. Before one helper module, ``True`` was
a ``ValueError`` in some places, silently ``1`` in others (``top_k=True``, ``history_turns=True``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kagura.core.llm import LLMConfig
from kagura.core.llm.batches._chunks import ChunkLimits
from kagura.core.llm.batches._polling import PollSchedule
from kagura.core.parallel import RateLimiter, RetryPolicy, parallel_gather, parallel_map
from kagura.loaders import scan_directory
from kagura.routing import AgentRouter, ContextAnalyzer
from kagura.testing import FakeLLMServer, Faults
from kagura.testing._fake_batch_clock import ManualClock


async def _double(x: int) -> int:
    return 2 * x


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


# entry point name -> call(value) for one argument; the argument's name must be in the message
ENTRY_POINTS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "parallel_map max_concurrent": (
        "max_concurrent",
        lambda v: _run(parallel_map(_double, [1], max_concurrent=v)),
    ),
    "parallel_map timeout": ("timeout", lambda v: _run(parallel_map(_double, [1], timeout=v))),
    "parallel_gather max_concurrent": ("max_concurrent", lambda v: _run(parallel_gather(max_concurrent=v))),
    "RateLimiter rpm": ("requests_per_minute", lambda v: RateLimiter(requests_per_minute=v)),
    "RateLimiter tpm": ("tokens_per_minute", lambda v: RateLimiter(tokens_per_minute=v)),
    "RetryPolicy max_attempts": ("max_attempts", lambda v: RetryPolicy(max_attempts=v)),
    "RetryPolicy base_delay": ("base_delay", lambda v: RetryPolicy(base_delay=v)),
    "LLMConfig timeout": ("timeout", lambda v: LLMConfig(model="m", timeout=v)),
    "LLMConfig max_tokens": ("max_tokens", lambda v: LLMConfig(model="m", max_tokens=v)),
    "LLMConfig max_attempts": ("max_attempts", lambda v: LLMConfig(model="m", max_attempts=v)),
    "LLMConfig requests_per_minute": (
        "requests_per_minute",
        lambda v: LLMConfig(model="m", requests_per_minute=v),
    ),
    "ChunkLimits max_requests": ("max_requests", lambda v: ChunkLimits(max_requests=v, max_bytes=100)),
    "PollSchedule first": ("first", lambda v: PollSchedule(first=v)),
    "AgentRouter threshold": ("threshold", lambda v: AgentRouter(threshold=v)),
    "AgentRouter.candidates top_k": ("top_k", lambda v: _run(AgentRouter().candidates("q", top_k=v))),
    "ContextAnalyzer history_turns": ("history_turns", lambda v: ContextAnalyzer(history_turns=v)),
    "Faults retry_after": ("retry_after", lambda v: Faults(retry_after=v)),
    "Faults invalid_json_rate": ("invalid_json_rate", lambda v: Faults(invalid_json_rate=v)),
    "FakeLLMServer latency": ("latency", lambda v: FakeLLMServer(latency=v)),
    "ManualClock.advance": ("seconds", lambda v: ManualClock().advance(v)),
}

COUNTS = {"max_concurrent", "max_tokens", "max_attempts", "max_requests", "top_k", "history_turns"}

BAD_VALUES: list[tuple[str, Any, type[Exception]]] = [
    ("true", True, TypeError),
    ("false", False, TypeError),
    ("string", "5", TypeError),
    ("list", [1], TypeError),
    ("negative", -1, ValueError),
    ("nan", math.nan, ValueError),
    ("inf", -math.inf, ValueError),
]


@pytest.mark.parametrize(("label", "value", "error"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_bad_arguments_raise_the_same_exception_type_everywhere(
    entry: str, label: str, value: Any, error: type[Exception]
) -> None:
    argument, call = ENTRY_POINTS[entry]
    if label in ("nan", "inf") and argument in COUNTS:
        error = TypeError  # a count is an int: any float (NaN and infinity included) is the wrong type
    with pytest.raises(error) as info:
        call(value)
    assert argument in str(info.value), str(info.value)


def test_file_sizes_and_bools_of_the_scanner(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="max_file_size"):
        scan_directory(tmp_path, max_file_size=True)
    with pytest.raises(TypeError, match="default_ignores"):
        scan_directory(tmp_path, default_ignores=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_file_size"):
        scan_directory(tmp_path, max_file_size=0)


def test_rag_settings(tmp_path: Path) -> None:
    from kagura.core.memory import MultimodalRAG

    cases = [("chunk_size", True, TypeError), ("overlap", 800, ValueError),
             ("embed_batch_size", 1.5, TypeError), ("max_file_size", False, TypeError)]  # fmt: skip
    for name, value, error in cases:
        with pytest.raises(error, match=name):
            MultimodalRAG(tmp_path / "store.db", **{name: value})


def test_the_checks_return_what_they_accept() -> None:
    from kagura._checks import check_choice, check_int, check_number, check_path, check_probability

    assert check_int("n", 3) == 3 and check_int("n", None, optional=True) is None
    assert check_number("x", 0.5, at_least=0) == 0.5 and check_probability("p", 1) == 1.0
    assert check_choice("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="mode must be one of 'a', 'b'"):
        check_choice("mode", "c", ("a", "b"))
    assert check_path("p", "x/y") == Path("x/y")
    with pytest.raises(TypeError, match="p must be a path"):
        check_path("p", b"x")
