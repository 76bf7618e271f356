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

from kagura.cli._app import app

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


def _load_agents(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None:
        return DEMO_AGENTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read agents file {path}: {exc}") from exc
    agents = data.get("agents", data) if isinstance(data, dict) else None
    if not isinstance(agents, dict) or not agents:
        raise typer.BadParameter('the agents file must be a JSON object {"name": {"intents": [...], ...}}')
    return agents


async def _route(
    query: str,
    strategy: str,
    agents: dict[str, dict[str, Any]],
    memory_path: Path | None,
    session: str,
    top_k: int,
    fallback: str | None,
    record: bool,
    llm: Any,
) -> dict[str, Any]:
    from kagura.core.memory import ConversationMemory
    from kagura.routing import AgentRouter, ContextAnalyzer, MemoryAwareRouter

    router = AgentRouter(strategy, fallback=fallback, llm=llm)
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


@app.command()
def route(
    query: Annotated[str, typer.Argument(help="The user's request.")],
    strategy: Annotated[
        str, typer.Option(help="intent | semantic (local embeddings) | llm (the model picks).")
    ] = "semantic",
    agents: Annotated[
        Path | None, typer.Option("--agents", help="JSON file {name: {intents, samples, description}}.")
    ] = None,
    memory: Annotated[
        Path | None, typer.Option("--memory", help="ConversationMemory SQLite file for follow-ups.")
    ] = None,
    session: Annotated[str, typer.Option(help="Session id inside --memory.")] = "default",
    record: Annotated[bool, typer.Option(help="Also store the query as a user turn in --memory.")] = False,
    fallback: Annotated[str | None, typer.Option(help="Agent to use when nothing matches.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="How many candidates to show.")] = 3,
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
        str | None, typer.Option("--api-key", help="API key (default: KAGURA_LLM_API_KEY).")
    ] = None,
) -> None:
    """Pick the agent for QUERY (executes nothing)."""
    from kagura.errors import KaguraError

    if strategy not in ("intent", "semantic", "llm"):
        raise typer.BadParameter("use --strategy intent, semantic or llm")
    llm = None
    if use_llm or strategy == "llm":
        from kagura.core.llm import LLMConfig

        llm = LLMConfig(model=model, base_url=base_url, api_key=api_key)
    try:
        result = asyncio.run(
            _route(query, strategy, _load_agents(agents), memory, session, top_k, fallback, record, llm)
        )
    except KaguraError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(result["agent"])
    if result["path"] == "enhanced":
        typer.echo(f"  resolved as: {result['routed_query']}")
    for name, score in result["candidates"]:
        typer.echo(f"  {name:12s} {score:.2f}")
