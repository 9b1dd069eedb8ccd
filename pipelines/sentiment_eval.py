"""Macro-F1 of tone scorers on a labelled paragraph set, side by side (tests and `make bench`)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from pipelines import sentiment, tone

LABELS = ("negative", "neutral", "positive")


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    scores = []
    for lab in LABELS:
        tp = sum(g == lab == p for g, p in zip(gold, pred, strict=True))
        fp = sum(p == lab != g for g, p in zip(gold, pred, strict=True))
        fn = sum(g == lab != p for g, p in zip(gold, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def vader_label(text: str, _analyser: list[object] = []) -> str:  # noqa: B006 - a deliberate one-slot cache
    if not _analyser:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _analyser.append(SentimentIntensityAnalyzer())
    compound = _analyser[0].polarity_scores(text)["compound"]  # type: ignore[attr-defined]
    return "negative" if compound <= -0.05 else "positive" if compound >= 0.05 else "neutral"  # VADER's own cut-offs


SCORERS: dict[str, Callable[[list[str]], list[str]]] = {
    "textblob": lambda texts: [sentiment.label(sentiment.polarity(t)) for t in texts],
    "vader": lambda texts: [vader_label(t) for t in texts],
    "scrutineer": lambda texts: [label for label, _ in tone.classify(texts)],
}


def compare(path: Path) -> dict[str, float]:
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    texts, gold = [i["text"] for i in items], [i["label"] for i in items]
    return {name: round(macro_f1(gold, scorer(texts)), 4) for name, scorer in SCORERS.items()}
