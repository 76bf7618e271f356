"""OpenTelemetry for LLM calls: a span per call and per attempt, events for waits and retries, metrics.

Optional (extra ``kagura[otel]``, ``opentelemetry-api``): without it every hook is a no-op, and with it
but no SDK configured the API's own non-recording spans cost next to nothing. Spans follow the GenAI
semantic conventions::

    chat claude-sonnet-4-5          the call: gen_ai.operation.name, gen_ai.system, gen_ai.request.model,
    ├── chat claude-sonnet-4-5 #1   gen_ai.usage.input_tokens/output_tokens, gen_ai.response.finish_reasons,
    └── chat claude-sonnet-4-5 #2   kagura.cost_usd, kagura.attempts; a child span per attempt (the
                                    request's attributes, kagura.attempt, error.type when it failed)

A retry is a ``kagura.retry`` event on the call span (the attempt, the previous error, seconds since it);
time spent waiting for the rate limiter and a concurrency slot before the first attempt is a
``kagura.rate_limit.wait`` event. Metrics (meter ``kagura``), counters read at collection time:
``kagura.llm.calls`` and ``kagura.llm.duration`` (seconds in all), ``gen_ai.client.token.usage`` (by
``gen_ai.token.type``), ``kagura.llm.requests`` (attempts, by ``kagura.outcome``), ``kagura.llm.rate_limited``
(429s), ``kagura.llm.cost`` (USD), ``kagura.llm.queue_wait`` (seconds waited in all) and
``kagura.llm.in_flight`` (requests on the wire).

A stream's spans are the same, but never made current (the consumer's code runs between the deltas).
By default the global tracer and meter providers are used (whatever the application configured);
``Telemetry(tracer_provider=..., meter_provider=...)`` picks others, ``Telemetry(enabled=False)`` none.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from kagura._checks import check_bool
from kagura.core.llm._telemetry_model import _Model
from kagura.core.llm._types import LLMRequest, LLMResponse
from kagura.errors import RateLimitedError

__all__ = ["CallTrace", "Telemetry"]

T = TypeVar("T")

_WAIT_EVENT_MIN_S = 0.001  # shorter waits are not worth an event


class Telemetry:
    """Where an :class:`~kagura.core.llm.LLMClient` reports its calls (see the module doc)."""

    def __init__(
        self, *, tracer_provider: Any = None, meter_provider: Any = None, enabled: bool = True
    ) -> None:
        check_bool("enabled", enabled)
        self.enabled = enabled
        self._tracer_provider, self._meter_provider = tracer_provider, meter_provider
        # the OpenTelemetry API's pieces, once it is imported (see _setup)
        self.tracer: Any = None
        self.client_kind: Any = None
        self.attach: Any = None
        self.detach: Any = None
        self.in_context: Any = None
        self.error_status: Any = None
        self._models: dict[tuple[str, str], _Model] = {}
        self._ready = False

    def _setup(self) -> None:
        self._ready = True
        try:
            from opentelemetry import metrics, trace
        except ImportError:  # the [otel] extra is not installed: stay a no-op
            self.enabled = False
            return
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        self.client_kind = trace.SpanKind.CLIENT
        self.tracer = trace.get_tracer("kagura", tracer_provider=self._tracer_provider)
        self.attach, self.detach, self.in_context = context.attach, context.detach, trace.set_span_in_context
        self.error_status = lambda description: Status(StatusCode.ERROR, description)
        meter = metrics.get_meter("kagura", meter_provider=self._meter_provider)
        # Every metric is a plain tally on the (provider, model)'s _Model, read when the metrics are
        # collected (observable instruments): a call pays a few float additions, not SDK measurements.
        for name, kind, unit, description in (
            ("kagura.llm.calls", "counter", "{call}", "LLM calls made (each may make several requests)"),
            (
                "kagura.llm.duration",
                "counter",
                "s",
                "Seconds LLM calls took in all, waits and retries included",
            ),
            ("kagura.llm.requests", "counter", "{request}", "LLM requests sent, by outcome"),
            ("kagura.llm.rate_limited", "counter", "{request}", "LLM requests answered 429"),
            ("gen_ai.client.token.usage", "counter", "{token}", "Tokens used, by gen_ai.token.type"),
            ("kagura.llm.cost", "counter", "USD", "Dollars spent on LLM calls"),
            ("kagura.llm.queue_wait", "counter", "s", "Seconds calls waited for the rate limiter and a slot"),
            ("kagura.llm.in_flight", "updown", "{request}", "LLM requests on the wire"),
        ):
            create = (
                meter.create_observable_counter
                if kind == "counter"
                else meter.create_observable_up_down_counter
            )
            create(
                name,
                callbacks=[self._observer(name, metrics.Observation)],
                unit=unit,
                description=description,
            )

    def _observer(self, name: str, observation: Any) -> Any:
        def observe(options: Any) -> list[Any]:
            return [observation(value, attrs) for model in list(self._models.values())
                    for value, attrs in model.points(name)]  # fmt: skip

        return observe

    def model(self, provider: str, model: str) -> _Model:
        """The span names, attribute sets and tallies of calls to (provider, model), made once."""
        found = self._models.get((provider, model))
        if found is None:
            found = self._models[(provider, model)] = _Model(provider, model)
        return found

    def call(
        self, provider: str, request: LLMRequest, clock: Any = time.monotonic, *, current: bool = True
    ) -> CallTrace:
        """The trace of one call (a no-op one when telemetry is off or not installed). ``current=False``
        (a stream, whose consumer runs between deltas) leaves the spans out of the current context."""
        if not self._ready:
            self._setup()
        if not self.enabled:
            return _NO_TRACE
        return CallTrace(self, provider, request, clock, current=current)


class CallTrace:
    """One call's span, attempts and metrics: ``with trace.span():`` around the call, ``with
    trace.attempt():`` around each attempt, ``trace.finish(response)`` with the answer."""

    def __init__(
        self, telemetry: Telemetry, provider: str, request: LLMRequest, clock: Any, *, current: bool = True
    ) -> None:
        self._t = telemetry
        self._current = current
        self._clock = clock
        self.model = request.model
        self.started = clock()
        self.attempts = 0
        self._failed_at: float | None = None
        self._last_error = ""
        self._span: Any = None
        self._context: Any = None
        self._token: Any = None
        self._request = request
        self._m = telemetry.model(provider, request.model)

    def span(self) -> CallTrace:
        """``with trace.span():`` the call's span, current while the attempts run; an escaping error
        marks it failed."""
        return self

    def __enter__(self) -> CallTrace:
        # start_span + attach rather than start_as_current_span: the same spans and context, without
        # two generator-based context managers per span; the span's context is made once, for the
        # attach and as every attempt's parent
        t, m, request = self._t, self._m, self._request
        attrs = m.call_attrs(request.temperature, request.max_tokens)
        self._span = t.tracer.start_span(m.name, kind=t.client_kind, attributes=attrs)
        self._context = t.in_context(self._span)
        self._token = t.attach(self._context) if self._current else None
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        t, span, m = self._t, self._span, self._m
        if self._token is not None:
            t.detach(self._token)
        if isinstance(exc, GeneratorExit):  # a stream's consumer stopped reading: not a failure
            span.set_attribute("kagura.stream_closed", True)
        elif exc is not None:
            span.set_attributes({"error.type": type(exc).__qualname__, "kagura.attempts": self.attempts})
            span.record_exception(exc)
            span.set_status(t.error_status(f"{type(exc).__qualname__}: {exc}"))
        span.end()
        m.calls += 1
        m.duration += self._clock() - self.started

    def attempt(self) -> _Attempt:
        """``with trace.attempt():`` one attempt's span (a child of the call's), its in-flight count and
        its outcome metrics."""
        return _Attempt(self)

    async def stream_attempt(self, chunks: AsyncIterator[T]) -> AsyncIterator[T]:
        """``chunks`` (one attempt's stream) inside that attempt's span."""
        span, token = self._begin_attempt()
        try:
            async for chunk in chunks:
                yield chunk
        except BaseException as exc:
            self._end_attempt(span, token, exc)
            raise
        self._end_attempt(span, token, None)

    def _begin_attempt(self) -> tuple[Any, Any]:
        self.attempts += 1
        t, m = self._t, self._m
        if self.attempts == 1:
            waited = self._clock() - self.started
            m.queue_wait += waited
            if waited >= _WAIT_EVENT_MIN_S:
                self._span.add_event("kagura.rate_limit.wait", {"kagura.wait_s": waited})
        elif self._failed_at is not None:
            delay = self._clock() - self._failed_at
            self._span.add_event("kagura.retry", {"kagura.attempt": self.attempts,
                                                  "error.type": self._last_error,
                                                  "kagura.delay_s": delay})  # fmt: skip
        m.in_flight += 1
        name, attrs = m.attempt(self.attempts)
        span = t.tracer.start_span(name, context=self._context, kind=t.client_kind, attributes=attrs)
        return span, t.attach(t.in_context(span)) if self._current else None

    def _end_attempt(self, span: Any, token: Any, exc: BaseException | None) -> None:
        t, m = self._t, self._m
        if token is not None:
            t.detach(token)
        m.in_flight -= 1
        if exc is None or isinstance(exc, GeneratorExit):
            m.ok += 1
        else:
            self._failed_at, self._last_error = self._clock(), type(exc).__qualname__
            span.set_attribute("error.type", self._last_error)
            span.set_status(t.error_status(self._last_error))
            if isinstance(exc, RateLimitedError):
                m.rate_limited += 1
            else:
                m.error += 1
        span.end()

    def finish(self, response: LLMResponse) -> None:
        """Record the answer on the call's span and in the metrics."""
        usage = response.usage
        if self._span.is_recording():
            attrs: dict[str, Any] = {
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "kagura.attempts": self.attempts,
            }
            if response.finish_reason:
                attrs["gen_ai.response.finish_reasons"] = (response.finish_reason,)
            if usage.cached_input_tokens:
                attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_input_tokens
            if usage.cache_write_tokens:
                attrs["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
            if usage.cost_usd is not None:
                attrs["kagura.cost_usd"] = usage.cost_usd
            self._span.set_attributes(attrs)
        m = self._m
        m.input_tokens += usage.input_tokens
        m.output_tokens += usage.output_tokens
        if usage.cost_usd:
            m.cost += usage.cost_usd


class _Attempt:
    """The context manager of one attempt (see :meth:`CallTrace.attempt`)."""

    __slots__ = ("_span", "_token", "_trace")

    def __init__(self, trace: CallTrace) -> None:
        self._trace = trace

    def __enter__(self) -> None:
        self._span, self._token = self._trace._begin_attempt()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._trace._end_attempt(self._span, self._token, exc)


class _NoTrace(CallTrace):
    """The trace of a call when telemetry is off: every hook does nothing."""

    def __init__(self) -> None:
        pass

    def __enter__(self) -> CallTrace:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        pass

    def attempt(self) -> _Attempt:
        return _NO_ATTEMPT  # type: ignore[return-value]

    async def stream_attempt(self, chunks: AsyncIterator[T]) -> AsyncIterator[T]:
        async for chunk in chunks:
            yield chunk

    def finish(self, response: LLMResponse) -> None:
        pass


class _NoAttempt:
    __slots__ = ()

    def __enter__(self) -> None:
        pass

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        pass


_NO_TRACE = _NoTrace()
_NO_ATTEMPT = _NoAttempt()
