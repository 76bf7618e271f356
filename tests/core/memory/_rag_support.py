"""Helpers shared by the RAG tests: real files on disk (text, PNG images) and an LLM config for a server."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from kagura.core.llm import LLMConfig


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def png(path: Path, seed: int) -> Path:
    """A small, distinct PNG (distinct bytes -> distinct content hash), whatever the file's extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(
        "RGB", (8 + seed % 16, 8 + seed // 16), (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    ).save(path, format="PNG")
    return path


def images(folder: Path, n: int, prefix: str = "img") -> list[Path]:
    return [png(folder / f"{prefix}{i:02}.png", i) for i in range(n)]


def llm_for(server: object, **kwargs: object) -> LLMConfig:
    options: dict[str, object] = {"model": "fake", "api_key": "test", **kwargs}
    return LLMConfig(base_url=server.base_url, **options)  # type: ignore[attr-defined, arg-type]


class Waves:
    """An async responder for ``FakeLLMServer`` that holds requests until ``width`` of them are waiting
    together (or every one of ``total`` has arrived), then answers them all: concurrency is then
    visible in the server's ``max_in_flight`` without relying on latency. A serial client cannot fill a
    wave; after ``patience`` seconds the wave is let go so such a client fails its assertions, not hangs.
    """

    def __init__(
        self, width: int, total: int, answer: str = "a described picture", patience: float = 10.0
    ) -> None:
        import asyncio

        self.width, self.total, self.answer, self.patience = width, total, answer, patience
        self.arrived = 0
        self.waiting = 0
        self.waves: list[int] = []
        self._gate = asyncio.Event()

    async def __call__(self, messages: list[dict[str, object]]) -> str:
        import asyncio

        self.arrived += 1
        self.waiting += 1
        if self.waiting >= self.width or self.arrived == self.total:
            self.waves.append(self.waiting)
            self.waiting = 0
            self._gate.set()
            self._gate = asyncio.Event()
            return self.answer
        gate = self._gate
        try:
            await asyncio.wait_for(gate.wait(), self.patience)
        except TimeoutError:
            pass
        return self.answer
