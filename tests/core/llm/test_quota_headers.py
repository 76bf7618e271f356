"""Reading quotas and retry delays from real providers' header formats."""

from __future__ import annotations

import pytest

from kagura.core.llm import QuotaHeaders, parse_quota_headers, retry_after_of
from kagura.core.llm.providers._quota_headers import parse_duration

NOW = 1_724_162_940.0  # 2024-08-20T14:09:00Z


def now() -> float:
    return NOW


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12ms", 0.012),
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("2m59.56s", 179.56),
        ("7.66s", 7.66),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
        ("20", 20.0),
        ("0.5", 0.5),
        ("2024-08-20T14:10:00Z", 60.0),  # Anthropic: an RFC 3339 instant
        ("2024-08-20T14:09:30+00:00", 30.0),
        ("Tue, 20 Aug 2024 14:09:10 GMT", 10.0),  # an HTTP date
        (str(NOW + 42), 42.0),  # a Unix time (GitHub-style x-ratelimit-reset)
        ("2024-08-20T14:08:00Z", 0.0),  # in the past: no wait
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, now) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "nan", "inf", "2024-08-20T14:10:00", "ms"])
def test_unreadable_durations_are_none(text: str) -> None:
    assert parse_duration(text, now) is None


FORMATS = [
    (
        "openai",
        {
            "x-ratelimit-limit-requests": "5000",
            "x-ratelimit-remaining-requests": "4999",
            "x-ratelimit-reset-requests": "12ms",
            "x-ratelimit-limit-tokens": "800000",
            "x-ratelimit-remaining-tokens": "799980",
            "x-ratelimit-reset-tokens": "1ms",
        },
        QuotaHeaders(5000, 4999, 0.012, 800000, 799980, 0.001),
    ),
    (
        "groq (mixed case, Go durations)",
        {
            "X-RateLimit-Limit-Requests": "14400",
            "X-RateLimit-Remaining-Requests": "14370",
            "X-RateLimit-Reset-Requests": "2m59.56s",
            "X-RateLimit-Limit-Tokens": "18000",
            "X-RateLimit-Remaining-Tokens": "17997",
            "X-RateLimit-Reset-Tokens": "7.66s",
        },
        QuotaHeaders(14400, 14370, 179.56, 18000, 17997, 7.66),
    ),
    (
        "anthropic",
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": "2024-08-20T14:09:01Z",
            "anthropic-ratelimit-tokens-limit": "40000",
            "anthropic-ratelimit-tokens-remaining": "39000",
            "anthropic-ratelimit-tokens-reset": "2024-08-20T14:09:02Z",
        },
        QuotaHeaders(50, 49, 1.0, 40000, 39000, 2.0),
    ),
    (
        "anthropic input tokens only",
        {
            "anthropic-ratelimit-input-tokens-limit": "20000",
            "anthropic-ratelimit-input-tokens-remaining": "0",
            "anthropic-ratelimit-input-tokens-reset": "2024-08-20T14:09:05Z",
        },
        QuotaHeaders(limit_tokens=20000, remaining_tokens=0, reset_tokens=5.0),
    ),
    (
        "azure (remaining only)",
        {"x-ratelimit-remaining-requests": "59", "x-ratelimit-remaining-tokens": "59000"},
        QuotaHeaders(remaining_requests=59, remaining_tokens=59000),
    ),
    (
        "ietf draft",
        {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "50"},
        QuotaHeaders(100, 0, 50.0),
    ),
    ("none", {"content-type": "application/json"}, QuotaHeaders()),
    (
        "garbage values",
        {"x-ratelimit-limit-requests": "many", "x-ratelimit-remaining-requests": "-3"},
        QuotaHeaders(),
    ),
]


@pytest.mark.parametrize(("name", "headers", "expected"), FORMATS, ids=[f[0] for f in FORMATS])
def test_real_header_formats(name: str, headers: dict[str, str], expected: QuotaHeaders) -> None:
    parsed = parse_quota_headers(headers, now)
    assert _close(parsed, expected)
    assert parsed.empty == (expected == QuotaHeaders())


def _close(a: QuotaHeaders, b: QuotaHeaders) -> bool:
    for field in QuotaHeaders.__slots__:
        x, y = getattr(a, field), getattr(b, field)
        if (x is None) != (y is None) or (x is not None and abs(x - y) > 1e-6):
            raise AssertionError(f"{field}: {x!r} != {y!r}")
    return True


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # the precise one wins
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "Tue, 20 Aug 2024 14:09:04 GMT"}, None),  # an HTTP date is read on the real clock
        # no Retry-After: the reset of the exhausted dimension
        (
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s",
             "x-ratelimit-remaining-tokens": "500", "x-ratelimit-reset-tokens": "100ms"},
            2.0,
        ),
        (
            {"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "2s",
             "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"},
            360.0,
        ),
        # nothing says which is exhausted: the earliest reset
        ({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "750ms"}, 0.75),
        ({"anthropic-ratelimit-requests-remaining": "0",
          "anthropic-ratelimit-requests-reset": "2024-08-20T14:09:08Z"}, 8.0),
        ({}, None),
    ],
)  # fmt: skip
def test_retry_after_of(headers: dict[str, str], seconds: float | None) -> None:
    got = retry_after_of(headers, now)
    if seconds is None and "retry-after" in headers:
        assert got == 0.0  # a date in the past on the real clock
    elif seconds is None:
        assert got is None
    else:
        assert got == pytest.approx(seconds)
