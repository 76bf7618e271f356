"""The cheap local check and the rules that read some cues as self-contained."""

from __future__ import annotations

from typing import Any

import pytest

from kagura.bench.router import context_detection
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
        # another / more of the same
        "Give me another one",
        "Another!",
        "One more, please",
        "Show me more",
        "Is there a cheaper one?",
        "Anything else?",
        "Something else by the same author",
        "Book the one with the sea view",
        # conditionals that continue the thread
        "And if I go on Sunday instead?",
        "What if the rate is 3 percent?",
        "But if it's out of stock, what then?",
        # ellipsis
        "Same for Osaka",
        "Same thing for Ken",
        "And in Kumamoto?",
        "And tomorrow?",
        "Now for 320",
        "Or Saturday morning?",
        "Vietnamese as well?",
        "And 'katsudon'?",
        "Should I pack an umbrella then?",
        # the other one
        "Buy the other one",
        "Which one is more polite?",
        "Email him a thank-you note",
        # Japanese: demonstratives, 別の, もう一つ, ellipsis, conditionals
        "そのお店の営業時間は？",
        "あの映画の上映時間は？",
        "別の色もある？",
        "もう一つ追加して",
        "もう１本見せて",
        "ほかにある？",
        "京都では？",
        "札幌は？",
        "で、明後日は？",
        "韓国語なら？",
        "午後だったら？",
        "20%の場合は？",
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
        "Search for another word for happy",
        "Remind me to pay the rent on Friday or else I get fined",
        "I met Ken the other day; email Ken the photos",
        "Email the whole team the minutes from this morning",
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
        # look-alikes of the newer cues
        "Calculate 15 percent more than 80",  # comparative "more"
        "Buy one more bag of rice for the week",  # "more" inside a noun phrase
        "Buy a one way ticket to Osaka",  # numeral "one"
        "Order same-day delivery of a phone charger",
        "And finally, schedule a call with the bank on Wednesday",
        "In Kyoto, find a tea house open late",
        "And what's the capital of Peru?",
        "Translate 'the other one' into Spanish",  # quoted material is not a reference
        'Translate "what if" into French',
        "What's the weather in Tokyo's north?",  # apostrophes do not open a quotation
        "「それ」を英語に翻訳して",
        "大阪の天気は？",  # the topic carries its own head noun
        "明日の予定は？",
        "あのね、明日の会議をキャンセルして",  # interjection
        "別に急ぎじゃないけど、ロンドンの天気を調べて",
        "京都では紅葉が見頃か調べて",
    ],
)
def test_no_cue(query: str) -> None:
    assert not might_need_context(query)


def test_the_labelled_set_is_large_varied_and_consistent(dataset: dict[str, Any]) -> None:
    conversations = dataset["conversations"]
    assert len(conversations) >= 150
    assert sum(c["lang"] == "ja" for c in conversations) >= 50
    assert len({c["id"] for c in conversations}) == len(conversations)
    assert len({(c["query"], tuple(t["content"] for t in c["history"])) for c in conversations}) == len(
        conversations
    )
    for conv in conversations:
        assert conv["expected"] in dataset["agents"], conv["id"]
        assert conv["lang"] == ("ja" if conv["kind"].startswith("ja-") else "en"), conv["id"]
        assert conv["rewrite"] is None or conv["needs_context"], conv["id"]  # only follow-ups are rewritten
    # hard negatives: self-contained queries that carry a follow-up cue for the cheap check
    hard = [c for c in conversations if not c["needs_context"] and might_need_context(c["query"])]
    assert len(hard) >= 15
    assert {c["lang"] for c in hard} == {"en", "ja"}


def test_cheap_check_over_the_labelled_set(dataset: dict[str, Any]) -> None:
    """Standalone queries skip the analysis entirely; dummy subjects are read as self-contained."""
    for conv in dataset["conversations"]:
        query, kind = conv["query"], conv["kind"]
        if kind == "dummy":
            assert might_need_context(query) and not significant_cues(query), conv["id"]
        elif kind.endswith("standalone"):
            assert not might_need_context(query), conv["id"]


# Measured on the labelled set when the cue sets were last extended (precision 0.953, recall 0.984;
# English 0.952 / 0.988, Japanese 0.957 / 0.978), minus a small margin: a change to the rules that
# loses follow-ups or raises false alarms fails here. `kagura bench router` prints the current values.
FLOORS = {"all": (0.93, 0.96), "en": (0.93, 0.96), "ja": (0.93, 0.95)}


@pytest.mark.parametrize("scope", sorted(FLOORS))
def test_needs_context_precision_and_recall_hold(dataset: dict[str, Any], scope: str) -> None:
    score = context_detection(dataset)[scope]
    precision, recall = FLOORS[scope]
    assert score.precision >= precision, (score.precision, score.false_positives)
    assert score.recall >= recall, (score.recall, score.false_negatives)


def test_cheap_check_recall_bounds_the_analysis(dataset: dict[str, Any]) -> None:
    scores = context_detection(dataset)
    # every significant cue is a cue: what the analysis would catch always reaches it
    assert set(scores["cheap_check"].false_negatives) <= set(scores["all"].false_negatives)
    assert scores["cheap_check"].recall >= scores["all"].recall
