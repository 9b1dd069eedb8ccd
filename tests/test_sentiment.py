"""Tone quality on the independent labelled set (tests/data/sentiment_labelled.yaml), side by side
with TextBlob and VADER, and the behaviours TextBlob gets wrong."""
from __future__ import annotations

from pathlib import Path

from evaluation.sentiment_eval import compare
from pipelines import tone
from pipelines.text import sentences

LABELLED = Path(__file__).parent / "data" / "sentiment_labelled.yaml"
#: The issue's target; measured 0.807 with the model chosen by cross-validation on the training
#: data only (0.811), never on this set.
FLOOR = 0.80


def test_tone_beats_textblob_by_020_macro_f1() -> None:
    got = compare(LABELLED)
    print("sentiment macro-F1:", got)
    assert got["scrutineer"] >= FLOOR
    assert got["scrutineer"] >= got["textblob"] + 0.20
    assert got["scrutineer"] > got["vader"]


def test_negation_and_domain_nouns() -> None:
    (neg, _), (neutral, _), (pos, _) = tone.classify([
        "Critics said the rushed rollout of the cameras was a serious mistake that put innocent people at risk.",
        "The court heard the case against the fraud suspect, who was arrested in March, on Tuesday.",
        "Giving officers body-worn cameras isn't a bad idea: complaints fell by a third in the first year.",
    ])
    assert (neg, neutral, pos) == ("negative", "neutral", "positive")


def test_sentences_split_offline() -> None:
    text = "Sir Mark Rowley spoke on Tuesday. Mr Khan replied at 5 p.m. in City Hall! Was it enough? Yes."
    assert sentences(text) == ["Sir Mark Rowley spoke on Tuesday.", "Mr Khan replied at 5 p.m. in City Hall!",
                               "Was it enough?", "Yes."]
