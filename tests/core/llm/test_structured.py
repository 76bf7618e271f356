"""Structured outputs against the fake server: the schema on the wire, validated answers, repairs with the
validation error fed back, the error after the last repair, and every attempt counted in usage and cost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from kagura.core.llm import LLMClient, LLMConfig, ModelPrice, PriceTable, call_llm, complete, track_usage
from kagura.core.llm._call import default_clients
from kagura.errors import KaguraError, StructuredOutputError
from kagura.testing import FakeLLMServer
from kagura.testing._fake_schema import instance_of


class Address(BaseModel):
    city: str
    zip_code: str = Field(min_length=5)


class Person(BaseModel):
    name: str
    age: int = Field(ge=18)
    tags: list[str] = Field(min_length=2)
    address: Address
    nickname: str | None = None


PERSON_SCHEMA: dict[str, Any] = {
    "title": "Person record",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 3},
        "kind": {"enum": ["human", "robot"]},
        "scores": {"type": "array", "items": {"type": "number", "minimum": 0.5}, "minItems": 1},
    },
    "required": ["name", "kind", "scores"],
    "additionalProperties": False,
}
PRICES = PriceTable({"fake": ModelPrice(input=1e6, output=1e6)})  # $1 a token: cost = tokens


def _config(server: FakeLLMServer, **kw: Any) -> LLMConfig:
    return LLMConfig(model="fake", base_url=server.base_url, api_key="test", max_attempts=1, **kw)


def test_fake_server_instances_validate_against_their_schema() -> None:
    person = Person.model_validate(instance_of(Person.model_json_schema()))
    assert person.age == 18 and len(person.tags) == 2 and len(person.address.zip_code) == 5
    import jsonschema

    jsonschema.validate(instance_of(PERSON_SCHEMA), PERSON_SCHEMA)


async def test_pydantic_schema_goes_on_the_wire_and_comes_back_validated() -> None:
    async with FakeLLMServer() as server:
        person = await call_llm("Who?", _config(server), schema=Person)
        sent = server.received[0]["response_format"]
    assert isinstance(person, Person)
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Person"
    assert sent["json_schema"]["schema"] == Person.model_json_schema()


async def test_json_schema_dict_returns_a_validated_dict() -> None:
    async with FakeLLMServer() as server:
        data = await call_llm("Who?", _config(server), schema=PERSON_SCHEMA)
        assert server.received[0]["response_format"]["json_schema"]["name"] == "Person_record"
    assert data == {"name": "xxx", "kind": "human", "scores": [0.5]}


async def test_invalid_answer_is_repaired_with_the_error_fed_back_and_every_attempt_costs() -> None:
    answers = iter(["not json at all", json.dumps({"name": "ab", "kind": "human", "scores": [1]})])
    good = {"name": "Ada", "kind": "robot", "scores": [1.0]}

    def responder(messages: list[dict[str, Any]]) -> str:
        return next(answers, json.dumps(good))

    async with FakeLLMServer(responder=responder) as server:
        async with LLMClient(_config(server), prices=PRICES) as client:
            with track_usage() as usage:
                response = await client.complete("Who?", schema=PERSON_SCHEMA)
        bodies = server.received
        log = server.stats.usage_log
    assert response.parsed == good
    assert response.repairs == 2
    assert len(bodies) == 3
    # each repair is the conversation so far plus one follow-up user message with the validation error
    second, third = (b["messages"] for b in bodies[1:])
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == "not json at all" and "not valid JSON" in second[2]["content"]
    assert [m["role"] for m in third] == ["user", "assistant", "user", "assistant", "user"]
    assert "at name" in third[4]["content"] and "too short" in third[4]["content"]
    assert third[:3] == second
    billed = sum(row["input_tokens"] + row["output_tokens"] for row in log)
    assert response.usage.total_tokens == billed == usage.total.total_tokens
    assert response.usage.cost_usd == pytest.approx(billed) and usage.cost_usd == pytest.approx(billed)


async def test_after_max_repairs_a_kagura_error_carries_the_last_answer_and_error() -> None:
    async with FakeLLMServer(responder=lambda messages: '{"name": 1}') as server:
        async with LLMClient(_config(server), prices=PRICES) as client:
            with pytest.raises(StructuredOutputError) as caught:
                await client.complete("Who?", schema=Person, max_repairs=1)
        requests = server.stats.chat_requests
    error = caught.value
    assert isinstance(error, KaguraError)
    assert requests == 2 and error.attempts == 2
    assert error.answer == '{"name": 1}'
    assert "name" in error.error and "age" in error.error
    assert error.usage.cost_usd == pytest.approx(error.usage.total_tokens)


async def test_bad_schema_and_repairs_are_misuse() -> None:
    async with FakeLLMServer() as server:
        with pytest.raises(TypeError, match="pydantic model class or a JSON Schema"):
            person = Person(name="a", age=20, tags=["a", "b"], address=Address(city="c", zip_code="12345"))
            await complete("x", _config(server), schema=person)
        with pytest.raises(ValueError, match="not a valid JSON Schema"):
            await complete("x", _config(server), schema={"type": "no-such-type"})
        with pytest.raises(ValueError, match="max_repairs"):
            await complete("x", _config(server), schema=Person, max_repairs=-1)
        assert server.stats.requests == 0
    default_clients.clear()


async def test_fenced_json_is_accepted() -> None:
    fenced = "```json\n" + json.dumps({"name": "Ada", "kind": "human", "scores": [2]}) + "\n```"
    async with FakeLLMServer(responder=lambda messages: fenced) as server:
        data = await call_llm("Who?", _config(server), schema=PERSON_SCHEMA)
    default_clients.clear()
    assert data["name"] == "Ada"


async def test_invalid_json_rate_breaks_that_share_of_structured_answers_only() -> None:
    async with FakeLLMServer(invalid_json_rate=0.25) as server:
        config = _config(server)
        async with LLMClient(config, prices=PRICES) as client:
            with track_usage() as usage:
                results = [
                    await client.complete(f"q{i}", schema=PERSON_SCHEMA, max_repairs=6) for i in range(200)
                ]
            plain = await client.complete("plain question")
        stats = server.stats
    assert all(r.parsed == instance_of(PERSON_SCHEMA) for r in results)
    assert plain.text == "fake answer: plain question"
    assert 30 <= stats.invalid_answers <= 70  # about a quarter of the structured answers
    assert sum(r.repairs for r in results) == stats.invalid_answers
    assert stats.structured_answers == 200 + stats.invalid_answers
    assert usage.calls == stats.structured_answers  # every attempt is counted ...
    assert usage.cost_usd == pytest.approx(usage.total.total_tokens)  # ... and priced
