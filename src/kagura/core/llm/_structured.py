"""Structured outputs: answers validated against a pydantic model or a JSON Schema, repaired when invalid.

::

    class City(BaseModel):
        name: str
        population: int

    city = await call_llm("The largest city of Japan?", config, schema=City)   # a City
    data = await call_llm("...", config, schema={"type": "object", ...})       # a dict, validated

The schema goes to the provider's structured-output mode (OpenAI-compatible ``response_format``
json_schema, Anthropic tool use, Gemini ``response_json_schema``). An answer that is not valid JSON or does
not match is sent back with the validation error as a follow-up user message, up to ``max_repairs`` times;
then :class:`~kagura.errors.StructuredOutputError` carries the last answer and error. Every attempt's
usage and cost add up in the returned response (and in usage trackers).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kagura._checks import check_int
from kagura._extras import import_optional
from kagura.core.llm._types import LLMRequest, LLMResponse, Usage
from kagura.errors import StructuredOutputError

__all__ = ["DEFAULT_MAX_REPAIRS", "Schema", "complete_structured"]

DEFAULT_MAX_REPAIRS = 2
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL)
_NAME = re.compile(r"[^a-zA-Z0-9_-]+")


class Schema:
    """What an answer must match: a pydantic model class, or a JSON Schema (a dict)."""

    __slots__ = ("json_schema", "model", "name", "validator")

    def __init__(self, schema: object) -> None:
        self.model: Any = None
        self.validator: Any = None
        if isinstance(schema, type) and callable(getattr(schema, "model_json_schema", None)):
            self.model = schema
            self.json_schema: dict[str, Any] = schema.model_json_schema()  # type: ignore[attr-defined]
            name = schema.__name__
        elif isinstance(schema, Mapping):
            jsonschema = import_optional("jsonschema", "a schema given as a JSON Schema dict")
            self.json_schema = dict(schema)
            cls = jsonschema.validators.validator_for(self.json_schema)
            try:
                cls.check_schema(self.json_schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"schema is not a valid JSON Schema: {exc.message}") from None
            self.validator = cls(self.json_schema)
            name = str(self.json_schema.get("title") or "response")
        else:
            raise TypeError(
                f"schema must be a pydantic model class or a JSON Schema dict, got {type(schema).__name__}"
            )
        self.name = _NAME.sub("_", name)[:64] or "response"

    def validate(self, text: str) -> Any:
        """The answer as a model instance (or a dict); ``ValueError`` saying what is wrong."""
        body = _unfenced(text)
        if self.model is not None:
            import pydantic

            try:
                return self.model.model_validate_json(body)
            except pydantic.ValidationError as exc:
                raise ValueError(_pydantic_message(exc)) from None
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ValueError(f"the answer is not valid JSON: {exc}") from None
        errors = sorted(self.validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            lines = [f"at {'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5]]
            raise ValueError("the answer does not match the schema: " + "; ".join(lines))
        return data


def _unfenced(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _pydantic_message(exc: Any) -> str:
    problems = []
    for error in exc.errors()[:5]:
        where = "/".join(map(str, error.get("loc", ()))) or "(root)"
        problems.append(f"at {where}: {error.get('msg', 'invalid')}")
    return "the answer does not match the schema: " + "; ".join(problems)


def repair_prompt(error: str) -> str:
    """The follow-up user message sent after an invalid answer."""
    return (
        f"That answer is invalid: {error}\n"
        "Answer again with only a JSON value that matches the schema exactly, without commentary."
    )


async def complete_structured(
    send: Callable[[LLMRequest], Awaitable[LLMResponse]],
    request: LLMRequest,
    schema: object,
    max_repairs: int = DEFAULT_MAX_REPAIRS,
) -> LLMResponse:
    """Send ``request`` with ``schema`` through ``send`` until an answer validates (see the module doc).

    The response's ``parsed`` is the validated value, ``usage`` the sum of every attempt's, ``repairs``
    the number of invalid answers sent back.
    """
    check_int("max_repairs", max_repairs, 0)
    spec = schema if isinstance(schema, Schema) else Schema(schema)
    request = dataclasses.replace(request, schema=spec.json_schema, schema_name=spec.name)
    usage = Usage()
    repairs = 0
    while True:
        response = await send(request)
        usage = usage + response.usage
        try:
            parsed = spec.validate(response.text)
        except ValueError as exc:
            if repairs >= max_repairs:
                raise StructuredOutputError(
                    f"no valid answer after {repairs + 1} attempts: {exc}",
                    answer=response.text,
                    error=str(exc),
                    attempts=repairs + 1,
                    usage=usage,
                ) from None
            repairs += 1
            turns = (*request.turns, ("assistant", response.text), ("user", repair_prompt(str(exc))))
            request = dataclasses.replace(request, turns=turns)
            continue
        return dataclasses.replace(response, usage=usage, parsed=parsed, repairs=repairs)
