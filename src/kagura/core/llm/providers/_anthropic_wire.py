"""OpenAI chat bodies to Anthropic Messages parameters and back: what lets a job's OpenAI-format requests run
on Anthropic, online (the provider's ``post_json``) or through Message Batches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["openai_completion", "to_anthropic_params"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def to_anthropic_params(body: Mapping[str, Any], *, default_max_tokens: int = 1024) -> dict[str, Any]:
    """An OpenAI chat body as Messages ``params``: system messages joined into ``system``, ``max_tokens``
    from ``max_completion_tokens``/``max_tokens`` (else ``default_max_tokens``, which Anthropic requires)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ValueError("a chat request's body needs a 'messages' list")
    system = [_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "system"]
    turns = [
        {"role": m.get("role"), "content": m.get("content")}
        for m in messages
        if isinstance(m, dict) and m.get("role") != "system"
    ]
    params: dict[str, Any] = {
        "model": body.get("model"),
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens,
        "messages": turns,
    }
    if system:
        params["system"] = "\n\n".join(system)
    for name in ("temperature", "top_p", "stop", "metadata"):
        if body.get(name) is not None:
            params["stop_sequences" if name == "stop" else name] = body[name]
    return params


def openai_completion(message: Mapping[str, Any]) -> dict[str, Any]:
    """An Anthropic ``message`` as an OpenAI chat completion body."""
    text = "".join(b.get("text", "") for b in message.get("content") or [] if b.get("type") == "text")
    finish = "length" if message.get("stop_reason") == "max_tokens" else "stop"
    usage = message.get("usage") or {}
    prompt, completion = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {
        "id": message.get("id"),
        "object": "chat.completion",
        "model": message.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
