"""Sentiment: whole-article tone and the tone of the sentences that mention each tag.

TextBlob's `.sentiment` (pattern lexicon, works offline) is the named baseline and its polarity is
always stored for comparison; labels come from thresholds measured on the labelled sets.
"""
from __future__ import annotations

from textblob import TextBlob

NEGATIVE_BELOW = -0.02
POSITIVE_ABOVE = 0.12


def polarity(text: str) -> float:
    if not text.strip():
        return 0.0
    return round(float(TextBlob(text).sentiment.polarity), 4)


def label(value: float) -> str:
    if value <= NEGATIVE_BELOW:
        return "negative"
    if value >= POSITIVE_ABOVE:
        return "positive"
    return "neutral"
