"""An in-process provider for unit tests that need no HTTP: inject an instance like a transport.

::

    fake = FakeProvider(responder=lambda request: "yes", latency=0.01)
    async with LLMClient(LLMConfig(model="m"), provider=fake) as client:
        await client.call("...")
    fake.requests   # every request it received

``LLMConfig(provider="fake")`` also works (each client gets its own default instance).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import ClassVar

from kagura.core.llm import LLMRequest, LLMResponse, Provider, Usage, register_provider

__all__ = ["FakeProvider", "fake_answer"]

FakeResponder = Callable[[LLMRequest], "str | Awaitable[str]"]


def fake_answer(request: LLMRequest) -> str:
    """The default answer: ``"fake answer: "`` + the prompt (same as the fake server's)."""
    return f"fake answer: {request.prompt}"


@register_provider
class FakeProvider(Provider):
    """Answers from ``responder`` (default :func:`fake_answer`) after ``latency`` seconds; ``requests``
    lists every request this instance received. All three are plain attributes of the instance."""

    name: ClassVar[str] = "fake"
    accepted_kinds: ClassVar[frozenset[str]] = frozenset({"image", "audio", "video", "pdf", "text"})

    def __init__(self, responder: FakeResponder | None = None, *, latency: float = 0.0) -> None:
        if responder is not None and not callable(responder):
            raise TypeError(f"responder must be a callable(request) -> str, got {type(responder).__name__}")
        if isinstance(latency, bool) or not isinstance(latency, int | float) or not latency >= 0:
            raise ValueError(f"latency must be a number of seconds >= 0, got {latency!r}")
        self.responder: FakeResponder = responder or fake_answer
        self.latency = float(latency)
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        text = self.responder(request)
        if inspect.isawaitable(text):
            text = await text
        usage = Usage(max(1, len(request.prompt) // 4), max(1, len(text) // 4))
        return LLMResponse(text, usage, model=request.model, provider=self.name)
