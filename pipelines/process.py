"""`scrutineer process`: dedupe → enrich → stories over everything not yet processed."""
from __future__ import annotations

from pipelines import dedupe, enrich, stories
from pipelines.settings import Settings


def run(settings: Settings) -> dict[str, int]:
    return {"deduplicated": dedupe.run(settings), "enriched": enrich.run(settings),
            "grouped": stories.run(settings)}
