"""Blocking wrappers: they work without a loop and refuse clearly inside one."""

from __future__ import annotations

import asyncio

import pytest

from kagura.core.parallel import parallel_map, parallel_map_sync, run_sync
from kagura.core.parallel._sync import parallel_map_outcomes_sync, parallel_map_unordered_sync


async def triple(x: int) -> int:
    await asyncio.sleep(0)
    return 3 * x


def test_sync_wrappers_run_without_an_event_loop() -> None:
    assert parallel_map_sync(triple, range(5), max_concurrent=2) == [0, 3, 6, 9, 12]
    assert sorted(parallel_map_unordered_sync(triple, range(5))) == [0, 3, 6, 9, 12]
    outcomes = parallel_map_outcomes_sync(triple, [1, 2])
    assert [(o.index, o.value, o.attempts) for o in outcomes] == [(0, 3, 1), (1, 6, 1)]
    assert run_sync(parallel_map(triple, [7])) == [21]


def test_sync_wrapper_passes_options_through() -> None:
    async def fails(x: int) -> int:
        raise ValueError(x)

    results = parallel_map_sync(fails, [1, 2], return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    with pytest.raises(ValueError, match="max_concurrent"):
        parallel_map_sync(triple, [1], max_concurrent=0)


async def test_sync_wrappers_refuse_to_run_inside_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="await parallel_map"):
        parallel_map_sync(triple, [1, 2])
    coro = triple(1)
    with pytest.raises(RuntimeError, match="running event loop"):
        run_sync(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning


def test_run_sync_rejects_non_awaitables() -> None:
    with pytest.raises(TypeError, match="run_sync"):
        run_sync(triple)  # type: ignore[arg-type]
