"""What spiders yield besides articles: the records the item pipelines store (crawlers/pipelines.py).

Spiders navigate and read; they never write the database. Everything a pass learns that must be
kept goes through the item pipelines as one of these (or a storage.article.Article), so storage
stays in one place, batched and in whole transactions, and a dry run stores nothing by the same path.

A spider that must know how storing went before it goes on (the OCDS spider stops paging at a
page of notices all stored already) puts its next request in `then`: the spider schedules it when
the pipelines are done with the item (Scrapy's item_scraped signal), never earlier, since Scrapy
hands a callback's items to the pipelines concurrently with the rest of its output.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.article import Article


@dataclass
class NoticePage:
    """One OCDS page's notices, stored in one transaction (a killed crawl leaves whole pages).

    `notices` are the parsed notice dicts (crawlers/ocds.py); the judgement (pipelines/procurement.py)
    keeps those that matter, with their reasons, and sets `judged`; storing fills `new` and `known`.
    `stop_when_known`: the spider stops paging when every notice of
    the page was stored already (the overlap with the last pass), instead of scheduling `then`."""

    source: str
    url: str
    notices: list[dict[str, Any]]
    releases: int
    then: Any = None
    stop_when_known: bool = False
    judged: bool = False
    new: int = 0
    known: int = 0


@dataclass
class HostRest:
    """No request to `site` (host:port) from any crawl process before `until`: a host's "too many".

    `then`: the same page asked again, scheduled once the rest is written, so the request's pacing
    slot (crawlers/politeness.PacingMiddleware) already lies after the rest."""

    site: str
    until: datetime
    then: Any = None


@dataclass
class ArticleEvent:
    """An edit, correction or takedown the recheck pass found for a stored article.

    `version` is the article as it reads now (an edit or correction); it is stored with the event
    in one transaction, so an event never points at a version that was not kept."""

    article_id: str
    kind: str
    detail: str
    version: Article | None = None
