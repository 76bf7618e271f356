"""Provider-style quotas for the fake server: token buckets per API key, as real providers enforce them.

A :class:`Quota` says how much each API key may use: ``rpm`` requests and ``tpm`` tokens per minute,
refilled continuously (``rpm / 60`` requests per second) into buckets that hold at most ``burst`` requests
(default: one second's worth, ``rpm / 60``, at least 1) and the matching tokens (``tpm / 60`` per second of
burst). This is how providers "quantize" a minute quota: 1,200 RPM is enforced as 20 per second, not as
1,200 in the first second of a minute.

:class:`QuotaEnforcer` keeps the buckets on an injectable clock (the server's event-loop clock by default,
so looptime applies) and answers three questions: may this request start now (and if not, how long until it
may: the ``Retry-After``), how to settle its tokens once the real count is known, and what the
OpenAI-style ``x-ratelimit-*`` headers say.

Tokens are charged twice, as providers do: on admission the request's estimate (prompt tokens plus its
``max_tokens`` when it gives one), then, once answered, the difference to the real prompt + completion
tokens is refunded or charged. A bucket may go below zero by that settlement (the debt delays the next
admission), and a request that costs more than the whole token bucket is admitted when the bucket is full,
so every request can eventually pass while the long-run token rate never exceeds ``tpm``.

Headers, per kind (``requests``, ``tokens``) that has a limit: ``x-ratelimit-limit-*`` is the per-minute
quota (``"1200"``), ``x-ratelimit-remaining-*`` what the key's bucket holds now (whole units, at most the
burst: what may start at once), ``x-ratelimit-reset-*`` the time until the bucket is full again, written
as OpenAI does (``"50ms"``, ``"1s"``, ``"6m0s"``). OpenAI reports ``remaining`` against the whole minute;
here it is the enforcing bucket, so a client that spends ``remaining`` at once is never refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kagura._checks import check_number

__all__ = ["Admission", "Quota", "QuotaEnforcer", "format_reset"]

Clock = Callable[[], float]


def _check_rate(name: str, value: float | None, minimum: float) -> None:
    check_number(f"Quota.{name}", value, at_least=minimum, optional=True)


@dataclass(frozen=True)
class Quota:
    """Per-API-key limits. ``None`` everywhere (the default) means no quota and no ``x-ratelimit-*`` headers.

    ``rpm``/``tpm``: requests/tokens per minute (fractional rates work). ``burst``: how many requests may
    start at once (bucket size; needs ``rpm``). ``headers=False`` keeps enforcing but sends no
    ``x-ratelimit-*`` headers (a provider that does not publish its limits); ``Retry-After`` stays.
    """

    rpm: float | None = None
    tpm: float | None = None
    burst: float | None = None
    headers: bool = True

    def __post_init__(self) -> None:
        _check_rate("rpm", self.rpm, 0.0)
        _check_rate("tpm", self.tpm, 0.0)
        _check_rate("burst", self.burst, 1.0)
        for name in ("rpm", "tpm"):
            if getattr(self, name) == 0:
                raise ValueError(f"Quota.{name} must be > 0 (None means unlimited)")
        if self.burst is not None and self.rpm is None:
            raise ValueError("Quota.burst needs Quota.rpm: the burst is a number of requests")
        if not isinstance(self.headers, bool):
            raise TypeError(f"Quota.headers must be a bool, got {self.headers!r}")

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return self.rpm is not None or self.tpm is not None

    @property
    def request_capacity(self) -> float:
        """Size of the request bucket: ``burst``, else one second's worth (at least 1)."""
        if self.rpm is None:
            return math.inf
        return self.burst if self.burst is not None else max(1.0, self.rpm / 60)

    @property
    def token_capacity(self) -> float:
        """Size of the token bucket: the tokens of the same span of time as the request burst (>= 1)."""
        if self.tpm is None:
            return math.inf
        seconds = self.request_capacity / (self.rpm / 60) if self.rpm is not None else 1.0
        return max(1.0, self.tpm / 60 * seconds)


def format_reset(seconds: float) -> str:
    """A duration as OpenAI writes ``x-ratelimit-reset-*``: ``"0s"``, ``"20ms"``, ``"1.5s"``, ``"6m0s"``."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _number(value: float) -> str:
    """``1200`` for 1200.0, ``0.5`` for 0.5: never an exponent."""
    return str(int(value)) if value == int(value) else repr(value)


class _Bucket:
    """A token bucket: ``level`` refills at ``rate`` per second up to ``capacity``."""

    __slots__ = ("level", "stamp")

    def __init__(self, capacity: float, now: float) -> None:
        self.level = capacity
        self.stamp = now

    def refill(self, now: float, rate: float, capacity: float) -> None:
        if now > self.stamp:
            self.level = min(capacity, self.level + (now - self.stamp) * rate)
        self.stamp = max(self.stamp, now)

    def wait_for(self, amount: float, rate: float) -> float:
        """Seconds until the level reaches ``amount`` (0 when it already has, to within float rounding)."""
        missing = amount - self.level
        return 0.0 if missing <= 1e-9 * max(1.0, amount) else missing / rate


@dataclass(frozen=True)
class Admission:
    """The answer of :meth:`QuotaEnforcer.admit`: admitted, or rejected with ``retry_after`` seconds."""

    admitted: bool
    retry_after: float = 0.0
    tokens_charged: int = 0


class QuotaEnforcer:
    """Token buckets per API key for one :class:`Quota`, on ``clock`` (seconds, monotonic)."""

    def __init__(self, quota: Quota, clock: Clock) -> None:
        self.quota = quota
        self.clock = clock
        self._requests: dict[str, _Bucket] = {}
        self._tokens: dict[str, _Bucket] = {}

    def _refill(self, key: str) -> tuple[_Bucket, _Bucket]:
        q, now = self.quota, self.clock()
        requests = self._requests.get(key)
        if requests is None:
            requests = self._requests[key] = _Bucket(q.request_capacity, now)
            tokens = self._tokens[key] = _Bucket(q.token_capacity, now)
        else:
            tokens = self._tokens[key]
        requests.refill(now, (q.rpm or 0) / 60, q.request_capacity)
        tokens.refill(now, (q.tpm or 0) / 60, q.token_capacity)
        return requests, tokens

    def set_quota(self, quota: Quota) -> None:
        """Change the limits from now on; what each key has left is kept, cut down to the new bucket sizes."""
        for key in list(self._requests):
            self._refill(key)  # settle the time elapsed at the old rates first
        self.quota = quota
        for bucket in self._requests.values():
            bucket.level = min(bucket.level, quota.request_capacity)
        for bucket in self._tokens.values():
            bucket.level = min(bucket.level, quota.token_capacity)

    def admit(self, key: str, estimated_tokens: int) -> Admission:
        """Take one request and ``estimated_tokens`` from ``key``'s buckets, or say how long to wait."""
        q = self.quota
        if not q.enabled:
            return Admission(True, tokens_charged=estimated_tokens)
        requests, tokens = self._refill(key)
        need_tokens = min(float(estimated_tokens), q.token_capacity)  # oversize requests pass when full
        wait = 0.0
        if q.rpm is not None:
            wait = requests.wait_for(1.0, q.rpm / 60)
        if q.tpm is not None:
            wait = max(wait, tokens.wait_for(need_tokens, q.tpm / 60))
        if wait > 0:
            return Admission(False, retry_after=wait)
        requests.level -= 1
        tokens.level -= estimated_tokens
        return Admission(True, tokens_charged=estimated_tokens)

    def settle(self, key: str, charged: int, actual: int) -> None:
        """Refund (or charge) the difference between the estimate charged on admission and the real count."""
        if self.quota.tpm is None or key not in self._tokens:
            return
        _, tokens = self._refill(key)
        tokens.level += charged - actual

    def headers(self, key: str, dialect: str = "openai") -> dict[str, str]:
        """OpenAI-style ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` for ``key`` right now;
        ``dialect="anthropic"``: ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` with
        the reset as an RFC 3339 time (wall clock)."""
        q = self.quota
        if not q.enabled or not q.headers:
            return {}
        requests, tokens = self._refill(key)
        out: dict[str, str] = {}
        for kind, per_minute, bucket, capacity in (
            ("requests", q.rpm, requests, q.request_capacity),
            ("tokens", q.tpm, tokens, q.token_capacity),
        ):
            if per_minute is None:
                continue
            remaining = str(max(0, math.floor(bucket.level)))
            wait = bucket.wait_for(capacity, per_minute / 60)
            if dialect == "anthropic":
                at = datetime.now(UTC) + timedelta(seconds=wait)
                out[f"anthropic-ratelimit-{kind}-limit"] = _number(per_minute)
                out[f"anthropic-ratelimit-{kind}-remaining"] = remaining
                out[f"anthropic-ratelimit-{kind}-reset"] = at.isoformat(timespec="milliseconds")
                continue
            out[f"x-ratelimit-limit-{kind}"] = _number(per_minute)
            out[f"x-ratelimit-remaining-{kind}"] = remaining
            out[f"x-ratelimit-reset-{kind}"] = format_reset(wait)
        return out
