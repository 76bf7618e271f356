"""The router benchmark: decisions, request counts and detection scores, never timings."""

from __future__ import annotations

from typing import Any

from kagura.bench.router import context_detection, run
from kagura.routing import might_need_context


def _cheap_check_misses(dataset: dict[str, Any]) -> set[str]:
    """Labelled follow-ups the cheap check lets through unanalysed (the speculative router's blind spot)."""
    return {
        c["id"] for c in dataset["conversations"] if c["needs_context"] and not might_need_context(c["query"])
    }


async def test_router_benchmark_quick_agrees_and_saves_round_trips(dataset: dict[str, Any]) -> None:
    plain, enhanced, mix = await run(latency=0.0, quick=True)
    assert [plain.operation, enhanced.operation, mix.operation] == [
        "router no-enhancement path",
        "router enhancement path",
        "router mix (labelled set)",
    ]
    assert plain.items + enhanced.items == mix.items == 16
    for row in (plain, enhanced, mix):
        assert set(row.extra["disagreements"]) <= _cheap_check_misses(dataset)
    paths = plain.extra["paths"]
    # serial: analysis + routing for every query; speculative: one call on the direct path, two overlapped
    # calls on the preliminary path
    assert plain.extra["llm_requests_serial"] == 2 * plain.items
    assert plain.extra["llm_requests_parallel"] == paths["direct"] + 2 * paths["preliminary"]
    assert enhanced.extra["paths"]["enhanced"] == enhanced.items


async def test_router_benchmark_full_set_reports_detection_and_only_explained_disagreements(
    dataset: dict[str, Any],
) -> None:
    """Every conversation, with the LLM analyzer: serial (analyse everything) vs speculative decisions.

    They may differ only where the cheap check misses a labelled follow-up: the speculative router routes
    that query as it stands, while the serial baseline's analysis rewrites it.
    """
    *_, mix = await run(latency=0.0, full=True)
    assert mix.items == len(dataset["conversations"])
    assert set(mix.extra["disagreements"]) <= _cheap_check_misses(dataset)
    assert mix.extra["agreement"] >= 1 - len(_cheap_check_misses(dataset)) / mix.items
    scores = context_detection(dataset)
    assert mix.extra["needs_context_precision"] == round(scores["all"].precision, 4)
    assert mix.extra["needs_context_recall"] == round(scores["all"].recall, 4)
    assert mix.extra["labelled_conversations"] == len(dataset["conversations"])
    assert mix.extra["missed_follow_ups"] == list(scores["all"].false_negatives)
    assert mix.extra["label_accuracy"] >= 0.97
