"""The one exception tree of kagura.

::

    KaguraError
    ├── RetryableError            transient: the scheduler's retry policy retries these
    │   ├── RateLimitedError      HTTP 429 / quota; carries ``retry_after`` seconds when the server said
    │   ├── KaguraTimeoutError    a call or item took longer than its timeout (also a builtin TimeoutError)
    │   ├── ServerError           HTTP 5xx from a provider
    │   ├── ProviderConnectionError   the connection failed or dropped
    │   └── BudgetUnavailableError    a shared (Redis) budget is unreachable and set to fail closed
    ├── LLMError                  fatal provider errors: retrying will not help
    │   ├── AuthenticationError   401/403: the key is missing, wrong or lacks access
    │   ├── InvalidRequestError   400/404/422: the request itself is wrong (model name, parameters)
    │   ├── MalformedResponseError    the server answered something that is not a valid completion
    │   ├── StructuredOutputError     no answer matched the schema after the repairs; carries the last
    │   │                             ``answer`` and ``error``
    │   └── UnsupportedAttachmentError   the model cannot take this kind of attachment
    ├── ConfigurationError        kagura is set up wrongly (missing model weights, missing extra)
    │   ├── MissingExtraError     an optional dependency is not installed (also a builtin ImportError)
    │   └── ServiceUnavailableError   a local service a test helper or benchmark starts (redis-server,
    │                             PostgreSQL) is not installed or would not start
    ├── ExtractionError           a file could not be read or parsed; carries ``path`` and ``reason``
    │   └── NothingToIndexError   the file is empty or whitespace only: skipped, not a failure
    ├── StoreError                the SQLite store is unusable (corrupt, newer schema)
    ├── BudgetExceededError       a call refused before it started: it could pass the spend cap ($)
    ├── JobInputError             a job's input cannot run (bad lines, a changed body): ``problems``
    ├── RoutingError
    │   └── NoAgentFoundError     no registered agent matched the query with enough confidence
    ├── UsageError                an object used in the wrong state or place (a blocking wrapper inside a
    │                             running event loop, a stream entered twice); also a builtin RuntimeError
    ├── WorkerProcessError        a child process kagura started (a benchmark worker, ``kagura fake-llm``)
    │                             failed or did not start; also a builtin RuntimeError
    └── InternalError             an invariant of kagura itself broke: a bug to report; also a RuntimeError

Misuse of an API (a wrong argument) raises ``ValueError`` or ``TypeError`` instead, with a message saying
what to do. Third-party exceptions are translated into this tree at one boundary per provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "AuthenticationError",
    "BudgetExceededError",
    "BudgetUnavailableError",
    "ConfigurationError",
    "ExtractionError",
    "InvalidRequestError",
    "JobInputError",
    "KaguraError",
    "KaguraTimeoutError",
    "LLMError",
    "MalformedResponseError",
    "MissingExtraError",
    "NoAgentFoundError",
    "NothingToIndexError",
    "ProviderConnectionError",
    "RateLimitedError",
    "RetryableError",
    "RoutingError",
    "ServerError",
    "ServiceUnavailableError",
    "StoreError",
    "StructuredOutputError",
    "UnsupportedAttachmentError",
    "UsageError",
    # InternalError and WorkerProcessError are KaguraErrors too, but nothing for a user to catch by name.
]


class KaguraError(Exception):
    """Root of every error kagura raises on purpose."""


class RetryableError(KaguraError):
    """A transient failure: trying the same thing again later may succeed.

    ``retry_after`` is the delay in seconds the other side asked for, when it said one. ``headers`` are
    the HTTP response headers of a failed call when the provider surfaced them (quota headers included).
    """

    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    """The provider refused the call for now (HTTP 429, quota exhausted)."""


class KaguraTimeoutError(RetryableError, TimeoutError):
    """A call or a scheduled item exceeded its timeout."""


class ServerError(RetryableError):
    """The provider failed on its side (HTTP 5xx)."""

    def __init__(self, message: str = "", *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after)
        self.status = status


class ProviderConnectionError(RetryableError):
    """The connection to the provider could not be made or was dropped."""


class BudgetUnavailableError(RetryableError):
    """A shared budget (Redis) cannot be reached and the limiter was told to fail closed rather than guess."""


class LLMError(KaguraError):
    """A provider error that retrying will not fix."""


class AuthenticationError(LLMError):
    """The API key is missing, wrong, or not allowed to use this model (HTTP 401/403)."""


class InvalidRequestError(LLMError):
    """The request was rejected as invalid (HTTP 400/404/422): fix the model name or parameters."""


class MalformedResponseError(LLMError):
    """The server's answer was not a valid completion."""


class StructuredOutputError(LLMError):
    """Every answer to a call with a ``schema`` failed validation, repairs included.

    ``answer`` is the last answer's text, ``error`` what was wrong with it, ``attempts`` how many answers
    were tried, ``usage`` the tokens and cost of them all (a ``kagura.core.llm.Usage``).
    """

    def __init__(
        self, message: str, *, answer: str = "", error: str = "", attempts: int = 0, usage: object = None
    ) -> None:
        super().__init__(message)
        self.answer = answer
        self.error = error
        self.attempts = attempts
        self.usage = usage


class UnsupportedAttachmentError(LLMError):
    """The chosen provider or model cannot take this kind of attachment."""


class ConfigurationError(KaguraError):
    """kagura is set up wrongly: a missing optional extra, model weights that cannot be found, ..."""


class MissingExtraError(ConfigurationError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the extra.

    Also an ``ImportError`` (with ``name`` set to the missing module), so ``except ImportError`` works.
    ``extra`` is the pip extra that installs it, e.g. ``"rag"`` for ``pip install 'kagura[rag]'``.
    """

    def __init__(self, message: str, *, name: str | None = None, extra: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.extra = extra


class ServiceUnavailableError(ConfigurationError):
    """A local service that a test helper or a benchmark starts for real (``redis-server``, PostgreSQL from
    the ``pgserver`` wheel) is not installed or would not start; the message says how to install it."""


class BudgetExceededError(KaguraError):
    """A call was refused before it started: its worst-case cost would pass the spend cap in dollars
    (:class:`~kagura.core.llm.SpendCap`). Not retryable: nothing more can be spent under that cap."""


class JobInputError(KaguraError):
    """A job's input cannot run: malformed lines, duplicate ids, or a changed body under an id already sent.

    ``problems`` are the messages, one per line at fault (``"line 7: ..."``); nothing was sent."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class ExtractionError(KaguraError):
    """A file could not be read or parsed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class NothingToIndexError(ExtractionError):
    """The file holds nothing to index (0 bytes, or whitespace only): ingestion skips it, it is no failure."""


class StoreError(KaguraError):
    """The SQLite store cannot be used (corrupt file, schema newer than this kagura)."""


class RoutingError(KaguraError):
    """Routing a query to an agent failed."""


class NoAgentFoundError(RoutingError):
    """No registered agent matched the query with enough confidence, and no fallback is set."""


class UsageError(KaguraError, RuntimeError):
    """An object was used in the wrong state or place: a blocking ``*_sync`` wrapper called inside a running
    event loop, a ``parallel_stream`` entered twice, a fake server used before it started, a transaction
    nested in another. The message says what to do instead. Also a ``RuntimeError``, as it was before."""


class WorkerProcessError(KaguraError, RuntimeError):
    """A child process kagura started (a benchmark worker, ``kagura fake-llm``) failed or did not start.

    ``returncode`` is its exit status when it exited. Also a ``RuntimeError``."""

    def __init__(self, message: str, *, returncode: int | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode


class InternalError(KaguraError, RuntimeError):
    """An invariant of kagura itself broke (an ingestion stage ended early...): a bug, please report it."""
