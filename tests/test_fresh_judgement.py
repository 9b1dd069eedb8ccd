"""Judgement on the second independent sets (tests/data/fresh/*_fresh2.yaml), written by a helper
who saw none of the training or tuning text and committed before the model ran. Scored once after
the second round of tuning: story pair F1 0.852 (P 0.846, R 0.857), thread pair F1 1.00; tone
macro-F1 0.797 (negative 0.746, neutral 0.811, positive 0.833); entity stance macro-F1 0.614.
These floors guard those figures (a little below them); they are not targets to tune towards.

The stories set was scored once at 0.852 and then tuned on (issue 15, actors and places): it is
now dev, tests/data/stories_dev_fresh2.yaml, guarded with the first dev set in
tests/test_story_dev_sets.py."""
from __future__ import annotations

from pathlib import Path

import yaml

from evaluation import corpus_eval, sentiment_eval

FRESH = Path(__file__).parent / "data" / "fresh"


def _items(name: str) -> list[dict]:
    return yaml.safe_load((FRESH / name).read_text(encoding="utf-8"))["items"]


def test_tone_on_the_second_fresh_set() -> None:
    got = sentiment_eval.score_tone(_items("tone_fresh2.yaml"))
    print("tone_fresh2:", got)
    assert got["scrutineer_macro_f1"] >= 0.78  # the target, met when scored once
    assert min(got["scrutineer_per_class"].values()) >= 0.70
    assert got["scrutineer_macro_f1"] > got["textblob_best_macro_f1"] + 0.2


def test_entity_stance_on_the_second_fresh_set() -> None:
    got = sentiment_eval.score_stance(_items("stance_fresh2.yaml"))
    print("stance_fresh2:", got)
    assert got["stance_macro_f1"] >= 0.58 and got["found"] >= 0.9 * got["labelled"]


def test_tone_and_stance_on_the_third_fresh_sets() -> None:
    """tone_fresh3 (160 items, 10 voices) and stance_fresh3 (50 articles, 122 stances), written
    blind and scored once: tone macro-F1 0.804 (negative 0.793, neutral 0.847, positive 0.773;
    TextBlob 0.453); entity stance macro-F1 0.553, evidence agreement 0.705. Not tuned on."""
    tone = sentiment_eval.score_tone(_items("tone_fresh3.yaml"))
    print("tone_fresh3:", tone)
    assert tone["scrutineer_macro_f1"] >= 0.78 and min(tone["scrutineer_per_class"].values()) >= 0.70
    stance = sentiment_eval.score_stance(_items("stance_fresh3.yaml"))
    print("stance_fresh3:", stance)
    assert stance["stance_macro_f1"] >= 0.52 and stance["found"] >= 0.8 * stance["labelled"]


def _stories(name: str, tmp_path: Path) -> dict:
    return corpus_eval.score_file(FRESH / name, tmp_path)


def test_story_grouping_on_the_third_fresh_set(tmp_path: Path) -> None:
    """stories_fresh3.yaml: written by a helper who saw no grouping code or earlier set, committed
    before the model ran, scored once after the actors-and-places rule: story pair F1 1.000, duplicate
    1.000, thread 0.865 (P 0.875, R 0.856). Not tuned on."""
    got = _stories("stories_fresh3.yaml", tmp_path)
    assert got["story_pair_f1"] >= 0.95 and got["duplicate_pair_f1"] >= 0.95
    assert got["thread_pair_f1"] >= 0.80


def test_story_grouping_on_the_fifth_fresh_set(tmp_path: Path) -> None:
    """stories_fresh5.yaml: written by a helper who saw no grouping code or earlier set, committed
    before the model ran, scored once after tuning on stories_dev_fresh4: story pair F1 0.928
    (P 0.968, R 0.891), duplicate 1.000, thread 0.940. Not tuned on."""
    got = _stories("stories_fresh5.yaml", tmp_path)
    assert got["story_pair_f1"] >= 0.90 and got["duplicate_pair_f1"] >= 0.95
    assert got["thread_pair_f1"] >= 0.88
