"""Admission control of an :class:`~kagura.core.llm.LLMClient`: the adaptive controller (quota learned from
headers and outcomes, alone or shared through Redis), its concurrency gate, the notices it gives, and the
dollar cap. Public names are re-exported by :mod:`kagura.core.llm`."""

# Not public (no __all__: kagura.core.llm re-exports what is public): kagura's jobs and command line import
# the spend cap's pieces from here, not from its private module; they may change.
from kagura.core.llm.control._spend import (  # noqa: F401
    DEFAULT_MAX_TOKENS,
    RedisSpendCap,
    SpendCap,
    body_token_bounds,
    worst_case_usd,
)
