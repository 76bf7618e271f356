from kagura.errors import (
    AuthenticationError,
    KaguraError,
    KaguraTimeoutError,
    RateLimitedError,
    RetryableError,
    ServerError,
)


def test_retryable_branch_is_recognisable_with_isinstance() -> None:
    assert isinstance(RateLimitedError("slow down", retry_after=2.5), RetryableError)
    assert isinstance(ServerError("boom", status=503), RetryableError)
    assert not isinstance(AuthenticationError("bad key"), RetryableError)
    assert RateLimitedError("x", retry_after=2.5).retry_after == 2.5


def test_timeout_is_both_kagura_and_builtin_timeout() -> None:
    err = KaguraTimeoutError("too slow")
    assert isinstance(err, TimeoutError)
    assert isinstance(err, KaguraError)
