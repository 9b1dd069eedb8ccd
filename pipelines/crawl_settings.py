"""Scrapy settings of every crawl this project launches: the crawler's own (crawlers/settings.py)
plus the processing side's item pipelines, ahead of storage.

The crawler layer cannot name the processing side (imports point down), so the stage that starts
the crawl composes them here: collect's crawl processes, `scrapy crawl` by scrapy.cfg.
"""
from __future__ import annotations

from crawlers.settings import *  # noqa: F403 - every crawl setting, unchanged
from crawlers.settings import ITEM_PIPELINES as CRAWL_PIPELINES

#: The procurement judgement keeps the notices that matter before the storage pipeline (300) stores them.
ITEM_PIPELINES = {**CRAWL_PIPELINES, "pipelines.procurement.ProcurementJudgement": 200}
