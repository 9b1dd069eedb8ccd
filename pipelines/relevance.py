"""Relevance: is this about police or law-enforcement use of AI, data or surveillance technology,
or its procurement and oversight? A 0..1 score with the signals that fired as the reason.

Both halves must be present: a technology signal and a policing signal. Weather, opera, fiction
and football share words with the taxonomy but never both halves, so they score low.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pipelines.taxonomy import Match, Taxonomy


@dataclass
class Relevance:
    score: float
    relevant: bool
    reason: str


def _strength(count: float, per_mention: float) -> float:
    """Saturating: the first mentions matter most, the tenth adds little."""
    return 1.0 - math.exp(-per_mention * count)


def score(tax: Taxonomy, tags: dict[str, Match], signals: dict[str, int], words: int,
          threshold: float) -> Relevance:
    groups = {"tech": 0.0, "police": 0.0, "oversight": 0.0}
    for slug, hit in tags.items():
        kind = tax.tags[slug].relevance
        if kind in groups:
            groups[kind] += 2.0 * hit.count  # a taxonomy tag is a strong, specific signal
    for kind, n in signals.items():
        groups[kind] = groups.get(kind, 0.0) + n
    # Long articles mention everything once; scale per 400 words so density, not length, counts.
    scale = max(1.0, words / 400)
    tech = _strength(groups["tech"] / scale, 0.35)
    police = _strength(groups["police"] / scale, 0.35)
    oversight = _strength(groups["oversight"] / scale, 0.25)
    # Geometric mean: either half missing sinks the score; oversight talk adds a little.
    value = min(1.0, math.sqrt(tech * police) * (0.85 + 0.15 * oversight))
    fired = [f"{tax.tags[s].label} ×{h.count}" for s, h in sorted(tags.items())]
    fired += [f"{k} terms ×{n}" for k, n in sorted(signals.items()) if n]
    reason = f"tech {tech:.2f}, police {police:.2f}, oversight {oversight:.2f}: " + (", ".join(fired) or "no signals")
    return Relevance(score=round(value, 4), relevant=value >= threshold, reason=reason)
