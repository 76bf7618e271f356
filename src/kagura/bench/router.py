"""Benchmark: memory-aware routing, serial vs speculative, over the labelled conversation set.

Both the context analysis and the routing are LLM calls at latency ``L`` on the loopback
``FakeLLMServer`` (``AgentRouter(strategy="llm")`` + ``ContextAnalyzer(llm=...)``). The serial baseline is
the seed's protocol: analyse every query with the LLM, then route the enhanced-or-original
query. The speculative router runs the cheap local check, then analysis and a preliminary routing
concurrently. The fake model is deterministic: for routing it answers with the agent whose keywords match
the request (the ``intent`` scorer), for analysis with the labelled rewrite, or ``NONE``.

Reported per path of the speculative decision: ``no-enhancement`` (the cheap check said no context can
matter, or the analysis found nothing to add: one round trip instead of two), ``enhancement`` (two round
trips either way) and the mix over the whole set; plus the decision agreement rate between the two
protocols (must be 100%) and the accuracy against the labels; ``extra["by_path_ms"]`` splits the means by
path (``direct``: no analysis awaited at all; ``preliminary``: analysis and routing overlapped). Queries run
one after another so their latencies never overlap.

The mix row also reports how well the local rules detect "needs context" over the whole labelled set
(``context_detection``): precision and recall of ``ContextAnalyzer``'s offline decision (a significant
cue) against the ``needs_context`` labels, overall and per language, and the recall of the cheap check
that decides which queries the speculative router analyses at all. A follow-up the cheap check misses is
routed as it stands; the serial baseline, which asks the LLM about every query, may then decide
differently: ``extra["disagreements"]`` lists those conversations (the tests require every disagreement to
be such a miss).

Sizes: ``quick`` a spread of 16 conversations at L <= 0.05 s; default a spread of 12; ``full`` all of them.

Expect the no-enhancement saving to approach but not reach 50%: each LLM call also costs client CPU time
``o`` (the SDK, JSON, the in-process fake server) that does not overlap on one event loop, so the
preliminary path takes ``L + 2o`` against the serial ``2L + 2o`` (the direct path ``L + o``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from kagura.bench._report import BenchRow
from kagura.core.llm import LLMConfig
from kagura.core.memory.conversation import ConversationMemory
from kagura.errors import ConfigurationError
from kagura.routing import AgentRouter, ContextAnalyzer, MemoryAwareRouter, might_need_context
from kagura.routing._context import REWRITE_SYSTEM
from kagura.routing._cues import significant_cues
from kagura.routing._intent import intent_scores
from kagura.routing._llm_strategy import SYSTEM as ROUTING_SYSTEM
from kagura.routing._types import AgentSpec
from kagura.testing import FakeLLMServer

__all__ = ["DATASET", "DetectionScore", "context_detection", "load_dataset", "run"]

DATASET = Path(__file__).with_name("data") / "routing_conversations.json"


def load_dataset(path: Path = DATASET) -> dict[str, Any]:
    """The labelled conversation set, shipped with the package (the routing tests use it too)."""
    if not path.is_file():
        raise ConfigurationError(
            f"the labelled routing set {path} is missing: reinstall kagura (it ships with the package)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class DetectionScore:
    """Precision and recall of a "needs context" detector against the labels, with the misses by id."""

    conversations: int
    precision: float
    recall: float
    false_positives: tuple[str, ...]
    false_negatives: tuple[str, ...]


def _score(conversations: list[dict[str, Any]], detect: Any) -> DetectionScore:
    predicted = {c["id"]: bool(detect(c["query"])) for c in conversations}
    labelled = {c["id"]: bool(c["needs_context"]) for c in conversations}
    tp = sum(predicted[i] and labelled[i] for i in predicted)
    fp = tuple(i for i in predicted if predicted[i] and not labelled[i])
    fn = tuple(i for i in predicted if labelled[i] and not predicted[i])
    return DetectionScore(
        conversations=len(conversations),
        precision=tp / (tp + len(fp)) if tp + len(fp) else 1.0,
        recall=tp / (tp + len(fn)) if tp + len(fn) else 1.0,
        false_positives=fp,
        false_negatives=fn,
    )


def context_detection(dataset: dict[str, Any]) -> dict[str, DetectionScore]:
    """How well the local rules find the queries that need the conversation, over the labelled set.

    ``"all"``, ``"en"`` and ``"ja"``: ``ContextAnalyzer``'s offline decision (a significant cue);
    ``"cheap_check"``: ``might_need_context``, which decides whether the speculative router analyses the
    query at all (its recall bounds the recall of any analyzer behind it).
    """
    conversations = dataset["conversations"]
    scores = {"all": _score(conversations, significant_cues)}
    for lang in ("en", "ja"):
        scores[lang] = _score([c for c in conversations if c["lang"] == lang], significant_cues)
    scores["cheap_check"] = _score(conversations, might_need_context)
    return scores


def _between(text: str, start: str, end: str) -> str:
    head = text.split(start, 1)[1] if start in text else text
    return head.split(end, 1)[0] if end in head else head


class _FakeModel:
    """The responder of the fake server: a deterministic 'model' for routing and query rewriting."""

    def __init__(self, dataset: dict[str, Any]) -> None:
        self.agents = [
            AgentSpec(name, lambda q: q, tuple(spec["intents"])) for name, spec in dataset["agents"].items()
        ]
        self.rewrites: dict[tuple[str, str], str] = {}
        for conv in dataset["conversations"]:
            users = [t["content"] for t in conv["history"] if t["role"] == "user"]
            if conv["rewrite"] and users:
                self.rewrites[(conv["query"], users[-1])] = conv["rewrite"]

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        system = next((str(m["content"]) for m in messages if m.get("role") == "system"), "")
        prompt = str(messages[-1]["content"])
        if system == ROUTING_SYSTEM:
            request = _between(prompt, "Request: ", "\n\nAgent name:")
            best = max(intent_scores(request, self.agents), key=lambda row: (row[1], -row[2]))
            return best[0] if best[1] > 0 else "NONE"
        if system == REWRITE_SYSTEM:
            query = _between(prompt, "Latest message: ", "\n\nRewritten request:")
            transcript = _between(prompt, "Recent conversation:\n", "\n\nLatest message:")
            users = [line[len("user: ") :] for line in transcript.splitlines() if line.startswith("user: ")]
            return self.rewrites.get((query, users[-1] if users else ""), "NONE")
        return "NONE"


async def _measure(
    dataset: dict[str, Any], conversations: list[dict[str, Any]], latency: float
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    async with FakeLLMServer(latency=latency, responder=_FakeModel(dataset)) as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="test")
        router = AgentRouter("llm", llm=config, fallback=dataset["fallback"])
        for name, spec in dataset["agents"].items():
            router.register(lambda q: q, name=name, **spec)
        await router.route("warm up the connection pool")
        for conv in conversations:
            memory = ConversationMemory(":memory:", session_id=conv["id"])
            for turn in conv["history"]:
                await memory.add_turn(turn["role"], turn["content"])
            analyzer = ContextAnalyzer(memory=memory, llm=config, always_ask_llm=True)
            aware = MemoryAwareRouter(router=router, analyzer=analyzer, memory=memory)
            row: dict[str, Any] = {"id": conv["id"], "expected": conv["expected"]}
            for mode, speculative in (("serial", False), ("parallel", True)):
                server.reset_stats()
                start = time.perf_counter()
                decision = await aware.decide(conv["query"], speculative=speculative)
                row[f"{mode}_s"] = time.perf_counter() - start
                row[f"{mode}_agent"] = decision.agent
                row[f"{mode}_requests"] = server.stats.requests
                if speculative:
                    row["path"] = decision.path
            memory.close()
            results.append(row)
    return results


def _row(
    operation: str,
    rows: list[dict[str, Any]],
    latency: float,
    round_trips: float,
    checks: list[tuple[str, str, float]] | None = None,
) -> BenchRow:
    """``checks``: the row's goal; every row also needs the serial and parallel decisions to agree."""
    n = len(rows)
    return BenchRow(
        operation=operation,
        items=n,
        serial_s=mean(r["serial_s"] for r in rows) if rows else 0.0,
        parallel_s=mean(r["parallel_s"] for r in rows) if rows else 0.0,
        ideal_s=round_trips * latency,
        extra={
            "latency_s": latency,
            "agreement": sum(r["serial_agent"] == r["parallel_agent"] for r in rows) / n if n else 1.0,
            "label_accuracy": sum(r["parallel_agent"] == r["expected"] for r in rows) / n if n else 1.0,
            "disagreements": [r["id"] for r in rows if r["serial_agent"] != r["parallel_agent"]],
            "llm_requests_serial": sum(r["serial_requests"] for r in rows),
            "llm_requests_parallel": sum(r["parallel_requests"] for r in rows),
            "paths": {p: sum(r["path"] == p for r in rows) for p in ("direct", "preliminary", "enhanced")},
            "by_path_ms": {
                p: {
                    "serial": round(1000 * mean(r["serial_s"] for r in group), 2),
                    "parallel": round(1000 * mean(r["parallel_s"] for r in group), 2),
                }
                for p in ("direct", "preliminary", "enhanced")
                if (group := [r for r in rows if r["path"] == p])
            },
        },
        checks=[("agreement", ">=", 1.0), *(checks or [])],
    )


def _spread(conversations: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` conversations evenly spread over the set (it is grouped by kind: each kind is represented)."""
    return conversations[:: max(1, len(conversations) // n)][:n]


async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]:
    """Serial vs speculative routing over the labelled set (see the module docstring for the sizes)."""
    if latency < 0:
        raise ValueError(f"latency must be >= 0 seconds, got {latency}")
    dataset = load_dataset()
    conversations = dataset["conversations"]
    if quick:
        latency = min(latency, 0.05)
        conversations = _spread(conversations, 16)
    elif not full:
        conversations = _spread(conversations, 12)
    rows = await _measure(dataset, conversations, latency)
    plain = [r for r in rows if r["path"] != "enhanced"]
    enhanced = [r for r in rows if r["path"] == "enhanced"]
    mix_trips = (len(plain) + 2 * len(enhanced)) / len(rows) if rows else 0.0
    mix = _row("router mix (labelled set)", rows, latency, mix_trips)
    detection = context_detection(dataset)
    mix.extra.update(
        {
            "needs_context_precision": round(detection["all"].precision, 4),
            "needs_context_recall": round(detection["all"].recall, 4),
            "needs_context_precision_en_ja": [
                round(detection["en"].precision, 4),
                round(detection["ja"].precision, 4),
            ],
            "needs_context_recall_en_ja": [
                round(detection["en"].recall, 4),
                round(detection["ja"].recall, 4),
            ],
            "cheap_check_recall": round(detection["cheap_check"].recall, 4),
            "labelled_conversations": detection["all"].conversations,
            "missed_follow_ups": list(detection["all"].false_negatives),
            "false_alarms": list(detection["all"].false_positives),
        }
    )
    return [
        _row("router no-enhancement path", plain, latency, 1.0, [("improvement", ">=", 0.48)]),
        _row("router enhancement path", enhanced, latency, 2.0),
        mix,
    ]


if __name__ == "__main__":
    for result in asyncio.run(run(full="--full" in sys.argv)):
        extra = result.extra
        print(
            f"{result.operation:30s} n={result.items:3d} serial={result.serial_s * 1000:7.1f} ms "
            f"parallel={result.parallel_s * 1000:7.1f} ms improvement={result.improvement:6.1%} "
            f"agreement={extra['agreement']:.0%} accuracy={extra['label_accuracy']:.0%} "
            f"paths={extra['paths']}"
        )
