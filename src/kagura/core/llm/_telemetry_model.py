"""One (provider, model)'s share of the LLM telemetry (see :mod:`kagura.core.llm._telemetry`): its span
names and attribute dicts, built once, and its metric tallies, read when the metrics are collected."""

from __future__ import annotations

from typing import Any

__all__ = ["_Model"]


class _Model:
    """One (provider, model): its span names and attribute dicts (built once and handed to every span:
    the SDK copies them) and its metric tallies (read by :meth:`points` at collection time)."""

    __slots__ = ("_attempts", "_call_attrs", "_labels", "calls", "cost", "duration", "error", "in_flight",
                 "input_tokens", "metric_attrs", "name", "ok", "output_tokens", "queue_wait",
                 "rate_limited", "span_attrs")  # fmt: skip

    def __init__(self, provider: str, model: str) -> None:
        self.name = f"chat {model}"
        self.metric_attrs: dict[str, Any] = {"gen_ai.system": provider, "gen_ai.request.model": model}
        self.span_attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", **self.metric_attrs}
        self._call_attrs: dict[tuple[float, int | None], dict[str, Any]] = {}
        self._attempts: list[tuple[str, dict[str, Any]]] = []
        self._labels = {
            label: {**self.metric_attrs, key: value}
            for label, key, value in (
                ("input", "gen_ai.token.type", "input"),
                ("output", "gen_ai.token.type", "output"),
                ("ok", "kagura.outcome", "ok"),
                ("error", "kagura.outcome", "error"),
                ("rate_limited", "kagura.outcome", "rate_limited"),
            )
        }
        self.calls = self.duration = self.queue_wait = self.in_flight = self.cost = 0.0
        self.input_tokens = self.output_tokens = self.ok = self.error = self.rate_limited = 0.0

    def call_attrs(self, temperature: float, max_tokens: int | None) -> dict[str, Any]:
        """The call span's attributes for these request settings (one dict per distinct pair)."""
        attrs = self._call_attrs.get((temperature, max_tokens))
        if attrs is None:
            attrs = {**self.span_attrs, "gen_ai.request.temperature": temperature}
            if max_tokens is not None:
                attrs["gen_ai.request.max_tokens"] = max_tokens
            if len(self._call_attrs) < 64:  # bounded: settings vary little in practice
                self._call_attrs[(temperature, max_tokens)] = attrs
        return attrs

    def attempt(self, number: int) -> tuple[str, dict[str, Any]]:
        """The name and attributes of attempt ``number``'s span."""
        while len(self._attempts) < number:
            n = len(self._attempts) + 1
            self._attempts.append((f"{self.name} #{n}", {**self.span_attrs, "kagura.attempt": n}))
        return self._attempts[number - 1]

    def points(self, metric: str) -> list[tuple[float, dict[str, Any]]]:
        """The (value, attributes) points of ``metric`` (sparse ones only once they are non-zero)."""
        labels = self._labels
        if metric == "kagura.llm.requests":
            points = [(self.ok, labels["ok"]), (self.error, labels["error"]),
                      (self.rate_limited, labels["rate_limited"])]  # fmt: skip
            return [(value, attrs) for value, attrs in points if value]
        if metric == "gen_ai.client.token.usage":
            return [(self.input_tokens, labels["input"]), (self.output_tokens, labels["output"])]
        value = {"kagura.llm.calls": self.calls, "kagura.llm.duration": self.duration,
                 "kagura.llm.rate_limited": self.rate_limited, "kagura.llm.cost": self.cost,
                 "kagura.llm.queue_wait": self.queue_wait,
                 "kagura.llm.in_flight": self.in_flight}[metric]  # fmt: skip
        sparse = metric in ("kagura.llm.rate_limited", "kagura.llm.cost")
        return [] if sparse and not value else [(value, self.metric_attrs)]
