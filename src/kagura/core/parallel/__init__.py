"""The scheduler: run many async calls with bounded concurrency, budgets, retries and timeouts.

::

    from kagura.core.parallel import parallel_map, RateLimiter, RetryPolicy

    limiter = RateLimiter(requests_per_minute=500, tokens_per_minute=200_000)   # share it per provider
    answers = await parallel_map(ask, prompts, max_concurrent=10,
                                 retry=RetryPolicy(max_attempts=4), timeout=30,
                                 limiters=[limiter], cost=lambda p: len(p) // 4)

Entry points: :func:`parallel_gather`, :func:`parallel_map` (input order), :func:`parallel_map_unordered`
(completion order), :func:`parallel_map_outcomes` (one :class:`Outcome` per item), :func:`parallel_stream`
(``async with parallel_stream(...) as outcomes``: outcomes as they finish), blocking ``*_sync`` wrappers
and :func:`run_sync`. All share one worker pool: at most ``max_concurrent`` tasks, never more than the
items pulled so far, items pulled lazily from any iterable or async iterable.

Budgets shared by several processes and hosts: ``RateLimiter(..., redis="redis://host:6379/0",
key="openai-prod")`` (extra ``kagura[redis]``); :func:`read_budgets` lists them (``kagura budget show``).
A run's ``limiters`` are in scope while its items run: attempt loops inside them (``call_with_retry``, an
LLM client's retries) admit every attempt through them too (:func:`limiters_in_scope`).

Imports nothing from kagura but :mod:`kagura.errors`, :mod:`kagura._checks` and :mod:`kagura._redact`
(which import nothing).
"""

from kagura.core.parallel._api import parallel_map, parallel_map_outcomes, parallel_map_unordered
from kagura.core.parallel._gather import parallel_gather
from kagura.core.parallel._outcome import Outcome
from kagura.core.parallel._retry import RetryPolicy, call_with_retry
from kagura.core.parallel._stream import parallel_stream
from kagura.core.parallel._sync import parallel_map_sync, run_sync
from kagura.core.parallel.budgets._limits import RateLimiter
from kagura.core.parallel.budgets._scope import limiters_in_scope

# isort: split
# Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
from kagura._redact import redact_url  # noqa: F401
from kagura.core.parallel._stream import OutcomeStream  # noqa: F401
from kagura.core.parallel._sync import parallel_map_outcomes_sync, parallel_map_unordered_sync  # noqa: F401
from kagura.core.parallel.budgets._limits import Limiter  # noqa: F401
from kagura.core.parallel.budgets._scope import admit_in_scope  # noqa: F401
from kagura.core.parallel.budgets._shared_gcra import KEY_PREFIX as SHARED_BUDGET_PREFIX  # noqa: F401
from kagura.core.parallel.budgets._shared_gcra import (  # noqa: F401
    BudgetSnapshot,
    connect_redis,
    read_budgets,
)

__all__ = [
    "Outcome",
    "RateLimiter",
    "RetryPolicy",
    "call_with_retry",
    "limiters_in_scope",
    "parallel_gather",
    "parallel_map",
    "parallel_map_outcomes",
    "parallel_map_sync",
    "parallel_map_unordered",
    "parallel_stream",
    "run_sync",
]
