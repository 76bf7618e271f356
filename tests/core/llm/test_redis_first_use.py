"""An unusable Redis for a shared budget is a ConfigurationError at first use, budget or not.

Before, a client with ``redis_url`` but no configured rate never contacted Redis (nothing to book; the
learned state synced silently in the background), so a wrong password, nothing listening or a URL the
client cannot parse ran the whole job unthrottled and exited 0.
"""

from __future__ import annotations

import pytest

from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.parallel import RateLimiter
from kagura.errors import ConfigurationError
from kagura.testing import FakeLLMServer, RedisServer
from kagura.testing._redis_server import free_port


def _bad_urls(redis: RedisServer) -> dict[str, str]:
    port = redis.url.split(":")[2].split("/")[0]
    return {
        "nothing listening": f"redis://127.0.0.1:{free_port()}/0",
        "wrong password": f"redis://nobody:hunter2@127.0.0.1:{port}/0",
        "unparsable": "redis://127.0.0.1:notaport/0",
    }


@pytest.mark.parametrize("case", ["nothing listening", "wrong password", "unparsable"])
async def test_a_client_with_no_budget_fails_at_first_use(case: str, redis_server: RedisServer) -> None:
    url = _bad_urls(redis_server)[case]
    async with FakeLLMServer() as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="k", redis_url=url)
        client = LLMClient(config)
        with pytest.raises(ConfigurationError, match="cannot reach Redis") as info:
            await client.call("hello")
        assert "hunter2" not in str(info.value)
        assert server.stats.chat_requests == 0  # nothing went out unthrottled


async def test_a_shared_limiter_without_rates_checks_redis_once(redis_server: RedisServer) -> None:
    limiter = RateLimiter(redis=redis_server.url, key="test:no-rates")
    await limiter.acquire()
    assert limiter.shared is not None and limiter.shared.reached
    await limiter.acquire()  # checked once, not per call
    await limiter.shared.close()
