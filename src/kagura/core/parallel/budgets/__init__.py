"""Budgets a run is admitted through: the in-process token buckets behind :class:`RateLimiter`, the Redis
GCRA that shares one budget between processes, and the scope that lets attempt loops inside a run admit
through the run's limiters. Public names are re-exported by :mod:`kagura.core.parallel`."""
