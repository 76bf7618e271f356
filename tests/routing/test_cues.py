"""The cheap local check and the rules that read some cues as self-contained."""

from __future__ import annotations

from typing import Any

import pytest

from kagura.routing import might_need_context
from kagura.routing._cues import significant_cues


@pytest.mark.parametrize(
    "query",
    [
        "What about Spanish?",
        "How about Osaka?",
        "Translate it to German",
        "Email that to Sarah",
        "Buy those tickets",
        "Reply to them",
        "Do the same for Aiko",
        "Now Italian instead",
        "Can you do it again?",
        "Also at 9pm",
        "Me too",
        "スペイン語も",
        "それを英語に",
        "じゃあ大阪は？",
        "では、ドイツ語は？",
        "さっきのメールを送って",
        "東京でも雨？",
        "Move it to the cold storage",
        "Put it somewhere dry",
    ],
)
def test_follow_up_cues_fire_and_stay_significant(query: str) -> None:
    assert might_need_context(query)
    assert significant_cues(query)


@pytest.mark.parametrize(
    "query",
    [
        "Is it raining?",
        "Will it snow tomorrow in Tokyo?",
        "It's cold today",
        "Is it going to rain this afternoon?",
        "Is it going to be sunny tomorrow?",
        "Does it snow in Okinawa?",
        "It rains a lot in June",
        "What time is it?",
        "Is it possible to book a table for two?",
        "This weekend, schedule a meeting",
        "Remind me that the report is due",
        "It is too hot outside",
        "Is it true that Kyoto was the capital?",
        "I think that Osaka is bigger",
        "How's it going?",
    ],
)
def test_self_contained_readings_fire_the_cheap_check_but_are_not_significant(query: str) -> None:
    assert might_need_context(query)  # the cheap check is purely lexical
    assert significant_cues(query) == []


@pytest.mark.parametrize(
    "query",
    [
        "Translate 'cat' into Spanish",
        "Go to checkout with my cart",
        "Itinerary for Kyoto",  # "it" inside a word
        "Thistle seeds price",  # "this" inside a word
        "これから会議の予定を確認して",  # これから = from now on
        "何も聞こえない",  # 何も = nothing
        "もっと安いのを探して",  # も starting a word
        "東京では雨？",  # では mid-sentence is a particle
    ],
)
def test_no_cue(query: str) -> None:
    assert not might_need_context(query)


def test_cheap_check_over_the_labelled_set(dataset: dict[str, Any]) -> None:
    """No follow-up slips past the cheap check; standalone queries skip the analysis entirely."""
    for conv in dataset["conversations"]:
        query, kind = conv["query"], conv["kind"]
        if kind.endswith(("follow-up", "pronoun")):
            assert significant_cues(query), conv["id"]
        elif kind == "dummy":
            assert might_need_context(query) and not significant_cues(query), conv["id"]
        elif kind.endswith("standalone"):
            assert not might_need_context(query), conv["id"]
