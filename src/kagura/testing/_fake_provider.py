"""An in-process provider for unit tests that need no HTTP: ``LLMConfig(provider="fake")``."""

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
    """Answers from ``FakeProvider.responder`` (default :func:`fake_answer`) after ``FakeProvider.latency``.

    Class-level knobs keep it usable through the registry: set them in a test and restore them after
    (the ``fake_provider`` pytest fixture does both). ``requests`` lists every request it received.
    """

    name: ClassVar[str] = "fake"
    accepted_kinds: ClassVar[frozenset[str]] = frozenset({"image", "audio", "video", "pdf", "text"})
    responder: ClassVar[FakeResponder] = staticmethod(fake_answer)
    latency: ClassVar[float] = 0.0
    requests: ClassVar[list[LLMRequest]] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        type(self).requests.append(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        text = type(self).responder(request)
        if inspect.isawaitable(text):
            text = await text
        usage = Usage(max(1, len(request.prompt) // 4), max(1, len(text) // 4))
        return LLMResponse(text, usage, model=request.model, provider=self.name)

    @classmethod
    def reset(cls) -> None:
        """Back to the defaults: default answer, no latency, no recorded requests."""
        cls.responder = staticmethod(fake_answer)
        cls.latency = 0.0
        cls.requests = []
