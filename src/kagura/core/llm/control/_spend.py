"""A hard cap in dollars: reserve a call's worst case before it starts, settle on what it really cost.

::

    cap = SpendCap(10.0)                                   # one process
    cap = SpendCap(10.0, redis="redis://...", key="job-7")  # every process using that key, through Redis
    client = LLMClient(config, prices=table, spend_cap=cap)  # every call of the client is admitted under it

An :class:`~kagura.core.llm.LLMClient` given a ``spend_cap`` reserves each attempt's worst case (the prompt
at one token per UTF-8 byte, plus ``max_tokens`` — :data:`DEFAULT_MAX_TOKENS` when unset — at the output
price) once the attempt is about to leave, and settles it on the priced usage of the answer. When the next
reservation would pass the cap, the call is refused with :class:`~kagura.errors.BudgetExceededError` (not
retried). Reservations never exceed the cap, and a settled call never costs more than its reservation, so
the spend never passes the cap. On Redis the check and the reservation are one script, so processes
cannot race past it; a process killed between reserve and settle leaves its reservation counted (the cap
errs on the safe side), and so does an attempt that failed after leaving (it may have been billed).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kagura._cancel import keeping_cancel
from kagura._checks import check_number
from kagura.errors import ConfigurationError

if TYPE_CHECKING:
    from kagura.core.llm._pricing import ModelPrice, PriceTable
    from kagura.core.llm._types import LLMRequest
    from kagura.core.llm.providers._registry import Provider

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "RedisSpendCap",
    "SpendCap",
    "body_token_bounds",
    "priced_worst",
    "request_worst_usd",
    "worst_case_usd",
]

DEFAULT_MAX_TOKENS = 4096
"""The answer length reserved under a spend cap for a call (or a chat body) that sets no ``max_tokens``."""


def _check(limit_usd: float, spent: float) -> None:
    for name, value in (("budget", limit_usd), ("spent", spent)):
        check_number(name, value, at_least=0, unit=" dollars")


def worst_case_usd(price: ModelPrice, prompt_tokens: int, answer_tokens: int) -> float:
    """The most a call of ``prompt_tokens`` in and ``answer_tokens`` out can cost at ``price``."""
    return (prompt_tokens * max(price.input, price.cache_write or 0.0) + answer_tokens * price.output) * 1e-6


def priced_worst(prices: PriceTable, model: str, prompt_tokens: int, answer_tokens: int) -> float:
    """:func:`worst_case_usd` at ``model``'s price in ``prices``; ``ConfigurationError`` when it has none
    (a spend cap cannot bound a call it cannot price: nothing is sent)."""
    price = prices.price(model)
    if price is None:
        raise ConfigurationError(
            f"the spend cap needs a price for model {model!r}: give LLMClient(prices=PriceTable...) "
            "(or --prices FILE)"
        )
    return worst_case_usd(price, prompt_tokens, answer_tokens)


def request_worst_usd(prices: PriceTable, provider: Provider, request: LLMRequest) -> float:
    """The most ``request`` can cost: its text at one token per UTF-8 byte (8 more per message, the schema
    counted), its attachments as ``provider`` estimates them, and ``max_tokens`` (else
    :data:`DEFAULT_MAX_TOKENS`) at the output price."""
    texts = [request.prompt, request.system or "", *(text for _, text in request.turns)]
    prompt = sum(len(text.encode()) + 8 for text in texts)
    if request.schema is not None:
        prompt += len(json.dumps(request.schema, default=str).encode())
    for att in request.attachments:
        prompt += provider.attachment_tokens(att.kind, att.size, att.duration_s, att.pages)
    return priced_worst(prices, request.model, prompt, request.max_tokens or DEFAULT_MAX_TOKENS)


def body_token_bounds(body: dict[str, Any]) -> tuple[int, int]:
    """(input, answer) token bounds of a raw chat or embeddings body: one token per UTF-8 byte of the text
    plus 8 per message; the body's ``max_completion_tokens``/``max_tokens`` (else
    :data:`DEFAULT_MAX_TOKENS`) for a chat answer, 0 for embeddings."""
    messages = body.get("messages") or []
    total = 8 * len(messages)
    for message in messages:
        total += len(json.dumps(message.get("content", ""), ensure_ascii=False).encode())
    inputs = body.get("input")
    for text in [inputs] if isinstance(inputs, str) else inputs or []:
        total += len(str(text).encode())
    if "messages" not in body:
        return total, 0
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    ok = isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
    return total, limit if ok else DEFAULT_MAX_TOKENS  # type: ignore[return-value]  # ok: an int


class SpendCap:
    """A cap of ``limit_usd`` dollars, of which ``spent`` is already gone (earlier runs).

    ``redis`` (a ``redis://`` URL, extra ``kagura[redis]``): one cap for every process using the same
    ``key`` there (the first process seeds it with ``spent``; kept 7 days). Without it the cap is this
    object's, for the clients given it.
    """

    def __init__(
        self, limit_usd: float, *, spent: float = 0.0, redis: str | None = None, key: str | None = None
    ) -> None:
        _check(limit_usd, spent)
        if redis is not None and not isinstance(redis, str):
            raise TypeError(f"redis must be a redis:// URL or None, got {type(redis).__name__}")
        if key is not None and (not isinstance(key, str) or not key):
            raise ValueError(f"key must be a non-empty string or None, got {key!r}")
        self.limit_usd = float(limit_usd)
        self.committed = float(spent)
        """Dollars settled plus dollars reserved by calls in flight (this process's view without Redis)."""
        self.key = key or "kagura:spend:default"
        self._redis: Any = None
        self._script: Any = None
        if redis:
            from kagura._extras import import_optional

            module = import_optional("redis.asyncio", "a spend cap shared through Redis")
            self._redis = module.from_url(redis)
            self._script = self._redis.register_script(_RESERVE)

    def __repr__(self) -> str:
        where = ", shared" if self._redis is not None else ""
        return f"SpendCap({self.limit_usd!r}, committed={self.committed!r}{where})"

    @property
    def shared(self) -> bool:
        """True when the cap lives in Redis."""
        return self._redis is not None

    async def reserve(self, usd: float) -> bool:
        """Hold ``usd`` for a call; False (nothing held) when that would pass the cap."""
        if not usd >= 0:  # also refuses NaN
            raise ValueError(f"a reservation must be >= 0 dollars, got {usd!r}")
        if self._redis is not None:
            args = [repr(float(usd)), repr(self.limit_usd), repr(self.committed)]
            return bool(await keeping_cancel(self._script(keys=[self.key], args=args)))
        if self.committed + usd > self.limit_usd:  # no await: atomic on the event loop
            return False
        self.committed += usd
        return True

    async def settle(self, reserved: float, actual: float) -> None:
        """Replace a reservation by the call's real cost (0 for a call that was never billed)."""
        if self._redis is not None:
            await keeping_cancel(self._redis.incrbyfloat(self.key, actual - reserved))
        else:
            self.committed += actual - reserved

    async def aclose(self) -> None:
        """Close the Redis connections (nothing to close locally); the cap stays usable."""
        if self._redis is not None:
            await self._redis.aclose()


_RESERVE = """
local current = tonumber(redis.call('GET', KEYS[1]) or ARGV[3])
local wanted = tonumber(ARGV[1])
if current + wanted > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], tostring(current + wanted), 'EX', 604800)
return 1
"""


class RedisSpendCap(SpendCap):
    """``SpendCap(limit_usd, redis=url, key=key, spent=spent)`` under its former name."""

    def __init__(self, limit_usd: float, url: str, key: str, *, spent: float = 0.0) -> None:
        super().__init__(limit_usd, spent=spent, redis=url, key=key)
