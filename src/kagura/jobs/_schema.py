"""Structured answers in a job: the LLM layer's :class:`~kagura.core.llm._structured.Schema`, on raw bodies.

A chat body without a ``response_format`` is sent with the schema as OpenAI's ``json_schema`` response
format. An answer that is not valid JSON or does not match is sent back with the validation error as a
follow-up user message (the LLM layer's repair prompt), up to ``max_repairs`` times; then the item fails
with the last validation error. Embedding bodies are not checked.
"""

from __future__ import annotations

import copy
from typing import Any

from kagura._checks import check_int
from kagura.core.llm._structured import DEFAULT_MAX_REPAIRS, Schema, repair_prompt

__all__ = ["JobSchema"]


def _answer(body: Any) -> str | None:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


class JobSchema:
    """A JSON Schema (dict) every chat answer of a job must match, and how many repairs to ask for."""

    def __init__(self, schema: dict[str, Any], *, max_repairs: int = DEFAULT_MAX_REPAIRS) -> None:
        check_int("max_repairs", max_repairs, 0)
        self.schema = Schema(schema)
        self.max_repairs = max_repairs

    def prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body to send: the schema as its response format, unless the line set one."""
        if "messages" not in body or "response_format" in body:
            return body
        json_schema = {"name": self.schema.name, "schema": self.schema.json_schema}
        return {**body, "response_format": {"type": "json_schema", "json_schema": json_schema}}

    def error(self, answer_body: Any) -> str | None:
        """What is wrong with a 2xx answer (None: valid, or not a chat answer)."""
        if isinstance(answer_body, dict) and "data" in answer_body and "choices" not in answer_body:
            return None  # embeddings
        text = _answer(answer_body)
        if text is None:
            return "the answer has no message content"
        try:
            self.schema.validate(text)
        except ValueError as exc:
            return str(exc)
        return None

    def repair(self, body: dict[str, Any], answer_body: Any, error: str) -> dict[str, Any]:
        """The body asking again: the invalid answer, then the repair prompt naming ``error``."""
        repaired = copy.copy(body)
        repaired["messages"] = [
            *body["messages"],
            {"role": "assistant", "content": _answer(answer_body) or ""},
            {"role": "user", "content": repair_prompt(error)},
        ]
        return repaired
