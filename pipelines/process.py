"""`scrutineer process`: dedupe → enrich → stories over everything not yet processed."""
from __future__ import annotations

from collections.abc import Callable

from core.settings import Settings
from pipelines import dedupe, enrich, stories


def run(settings: Settings, on_stage: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Each stage commits its own work, so an interrupted run keeps the stages it finished;
    `on_stage(name, count)` hears of each as it ends (the progress view)."""
    counts: dict[str, int] = {}
    for name, stage in (("deduplicated", dedupe.run), ("enriched", enrich.run), ("grouped", stories.run)):
        counts[name] = stage(settings)
        if on_stage is not None:
            on_stage(name, counts[name])
    return counts
