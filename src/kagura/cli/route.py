"""``kagura route QUERY``: pick an agent for a query, resolving follow-ups from a conversation store.

Offline by default (``--strategy semantic`` with local embeddings, local follow-up composition); ``--llm``
rewrites follow-ups with an LLM and ``--strategy llm`` lets the model pick the agent.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from kagura.cli._app import KaguraCommand, app
from kagura.cli._errors import fail, user_errors
from kagura.cli._files import read_user_text
from kagura.cli._params import MAX_TOP_K, finite, path_value, utf8_text

#: The largest ``--agents`` file read (agent specs are a few KiB; a bigger file is a wrong argument).
AGENTS_LIMIT = 4 * 1024 * 1024

#: The agents used when ``--agents`` is not given: a small general-purpose assistant.
DEMO_AGENTS: dict[str, dict[str, Any]] = {
    "translator": {
        "intents": ["translate", "translation", "翻訳", "訳して"],
        "samples": ["Translate hello to French", "この文を英語に翻訳して"],
        "description": "Translates text between languages",
    },
    "weather": {
        "intents": ["weather", "forecast", "rain", "snow", "temperature", "天気", "雨", "気温"],
        "samples": ["What's the weather in Tokyo today?", "明日の天気は？"],
        "description": "Weather forecasts and current conditions",
    },
    "calculator": {
        "intents": ["calculate", "compute", "plus", "minus", "percent", "計算"],
        "samples": ["Calculate 15 percent of 80", "What is 12 multiplied by 9?"],
        "description": "Arithmetic and unit calculations",
    },
    "calendar": {
        "intents": ["schedule", "meeting", "calendar", "appointment", "remind", "予定", "会議"],
        "samples": ["Schedule a meeting with Ken on Friday", "明日の会議を予定に入れて"],
        "description": "Calendar events, meetings and reminders",
    },
    "search": {
        "intents": ["search", "look up", "find", "検索", "調べて"],
        "samples": ["Search for vegan restaurants in Kyoto", "Look up the population of Canada"],
        "description": "Searches the web for information",
    },
}


_SPEC_FIELDS = ("intents", "samples", "description")


def _check_spec(name: str, spec: Any) -> str | None:
    """What is wrong with one agent's spec, or None."""
    if not isinstance(spec, dict):
        return f"agent {name!r} must be an object {{intents, samples, description}}, got {_json_type(spec)}"
    unknown = sorted(set(spec) - {*_SPEC_FIELDS, "name"})
    if unknown:
        return f"agent {name!r} has unknown field(s) {', '.join(unknown)}: use {', '.join(_SPEC_FIELDS)}"
    for field in ("intents", "samples"):
        value = spec.get(field)
        if value is None or isinstance(value, str):
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return f"agent {name!r}: {field!r} must be a list of non-empty strings, got {_json_type(value)}"
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        return f"agent {name!r}: 'description' must be a string, got {_json_type(description)}"
    return None


def _json_type(value: Any) -> str:
    """How a JSON value reads in an error: its kind, then the value itself (shortened)."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    text = json.dumps(value, ensure_ascii=False)
    return f"{kinds.get(type(value), 'a number')} {text if len(text) <= 40 else text[:37] + '...'}"


def _load_agents(path: Path | None) -> dict[str, dict[str, Any]]:
    """The agents of ``--agents`` (or the built-in ones), checked: any problem is a one-line error, exit 2."""
    if path is None:
        return DEMO_AGENTS
    text = read_user_text(path, "--agents", limit=AGENTS_LIMIT)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise fail(f"--agents: {path} is not valid JSON: {exc}", code=2) from None
    agents = data.get("agents", data) if isinstance(data, dict) else None
    if not isinstance(agents, dict) or not agents:
        raise fail(f'--agents: {path} must hold a JSON object {{"name": {{"intents": [...], ...}}}}', code=2)
    for name, spec in agents.items():
        problem = _check_spec(name, spec)
        if problem is not None:
            raise fail(f"--agents: {path}: {problem}", code=2)
    return agents


async def _route(
    query: str,
    strategy: str,
    agents: dict[str, dict[str, Any]],
    memory_path: Path | None,
    session: str,
    top_k: int,
    fallback: str | None,
    threshold: float | None,
    record: bool,
    llm: Any,
) -> dict[str, Any]:
    from kagura.core.memory import ConversationMemory
    from kagura.routing import AgentRouter, ContextAnalyzer, MemoryAwareRouter

    router = AgentRouter(strategy, fallback=fallback, threshold=threshold, llm=llm)
    for name, spec in agents.items():
        router.register(lambda q: q, name=name, **{k: v for k, v in spec.items() if k != "name"})
    memory = ConversationMemory(memory_path, session_id=session) if memory_path else None
    try:
        aware = MemoryAwareRouter(
            router=router, analyzer=ContextAnalyzer(memory=memory, llm=llm), memory=memory
        )
        decision = await aware.decide(query)
        if record and memory is not None:
            await memory.add_turn("user", query)
        return {
            "query": query,
            "agent": decision.agent,
            "path": decision.path,
            "routed_query": decision.query,
            "reason": getattr(decision.context, "reason", ""),
            "candidates": await router.candidates(decision.query, top_k=top_k),
        }
    finally:
        if memory is not None:
            memory.close()


_STRATEGIES = ("intent", "semantic", "llm")


@app.command(
    cls=KaguraCommand,
    help="Pick the agent for QUERY (executes nothing).\n\n"
    f"Without --agents, the built-in agents are: {', '.join(DEMO_AGENTS)}.",
)
def route(
    query: Annotated[str, typer.Argument(help="The user's request.", callback=utf8_text, metavar="QUERY")],
    strategy: Annotated[
        str, typer.Option(help="intent | semantic (local embeddings) | llm (the model picks).")
    ] = "semantic",
    agents: Annotated[
        Path | None,
        typer.Option(
            "--agents",
            parser=path_value,
            help="JSON file {name: {intents, samples, description}} (default: the built-in agents).",
        ),
    ] = None,
    memory: Annotated[
        Path | None,
        typer.Option("--memory", parser=path_value, help="ConversationMemory SQLite file for follow-ups."),
    ] = None,
    session: Annotated[str, typer.Option(help="Session id inside --memory.")] = "default",
    record: Annotated[bool, typer.Option(help="Also store the query as a user turn in --memory.")] = False,
    fallback: Annotated[
        str | None, typer.Option(help="Agent to use when nothing matches (one of the agents).")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, callback=finite, help="Minimum confidence 0..1 (default: the strategy's own)."
        ),
    ] = None,
    top_k: Annotated[
        int, typer.Option("--top-k", min=1, max=MAX_TOP_K, help="How many candidates to show.")
    ] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    use_llm: Annotated[
        bool, typer.Option("--llm", help="Rewrite follow-ups with an LLM (KAGURA_LLM_* or the flags below).")
    ] = False,
    model: Annotated[str | None, typer.Option(help="LLM model (default: KAGURA_LLM_MODEL).")] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="OpenAI-compatible /v1 URL (default: KAGURA_LLM_BASE_URL)."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="API key (default: KAGURA_LLM_API_KEY).", show_default=False),
    ] = None,
) -> None:
    if strategy not in _STRATEGIES:
        raise fail(f"--strategy {strategy!r}: use {' | '.join(_STRATEGIES)}", code=2)
    if record and memory is None:
        raise fail("--record stores the query in --memory: pass --memory FILE too", code=2)
    specs = _load_agents(agents)
    if fallback is not None and fallback not in specs:
        raise fail(f"--fallback {fallback!r} is not an agent: choose one of {', '.join(specs)}", code=2)
    with user_errors(api_key, misuse=True):
        llm = None
        if use_llm or strategy == "llm":
            from kagura.core.llm import LLMConfig

            llm = LLMConfig(model=model, base_url=base_url, api_key=api_key)
        result = asyncio.run(
            _route(query, strategy, specs, memory, session, top_k, fallback, threshold, record, llm)
        )
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(result["agent"])
    if result["path"] == "enhanced":
        typer.echo(f"  resolved as: {result['routed_query']}")
    for name, score in result["candidates"]:
        typer.echo(f"  {name:12s} {score:.2f}")
