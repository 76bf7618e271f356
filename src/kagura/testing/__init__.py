"""Fakes shipped for tests and benchmarks: a loopback OpenAI-compatible server and an in-process provider.

``pytest_plugins = ["kagura.testing.pytest_plugin"]`` gives the ``fake_llm_server``, ``fake_llm_config``
and ``fake_provider`` fixtures.
"""

from kagura.testing._fake_process import FakeLLMProcess
from kagura.testing._fake_provider import FakeProvider, fake_answer
from kagura.testing._fake_server import FakeLLMServer
from kagura.testing._fake_wire import Faults, ServerStats, default_answer, scripted
from kagura.testing._redis_server import RedisServer
from kagura.testing._vectors import fake_embedding

__all__ = [
    "FakeLLMProcess",
    "FakeLLMServer",
    "FakeProvider",
    "Faults",
    "RedisServer",
    "ServerStats",
    "default_answer",
    "fake_answer",
    "fake_embedding",
    "scripted",
]
