"""The scheduler: run many async calls with bounded concurrency, budgets, retries and timeouts.

Imports nothing from kagura but :mod:`kagura.errors`.
"""

from kagura.core.parallel._limits import Limiter, RateLimiter, SlidingWindow
from kagura.core.parallel._retry import RetryPolicy, call_with_retry

__all__ = [
    "Limiter",
    "RateLimiter",
    "RetryPolicy",
    "SlidingWindow",
    "call_with_retry",
]
