"""Item pipeline: batched upserts through storage, then one fetch-log line for the pass.

The only place a crawl writes the database: articles in batches, an OCDS page of notices in one
transaction, a host's rest, a recheck's event with its new version (crawlers/items.py). Each
batch is one transaction, so a killed crawl leaves whole batches and a re-run finishes the
rest (upsert on canonical URL). Validators are saved last: a crash before them means the next
pass re-reads the feed instead of trusting a 304 for items never stored. An interrupted crawl
(crawlers/runner.py) stores its whole buffered articles and logs the pass as interrupted, saving
neither validators nor polling, so the source stays due and the next pass fetches the rest.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

from core.events import emit
from core.polling import after_pass
from crawlers.headline import feed_outlet, learn_outlet, name_key, shared_affix, strip_outlet
from crawlers.items import ArticleEvent, HostRest, NoticePage
from crawlers.report import PassReport
from storage import sources as source_store
from storage.article import Article
from storage.articles import UpsertCounts, add_event, raw_titles, retitle, store_articles
from storage.db import write
from storage.leases import rest_host
from storage.notices import store_notices

BATCH = 50


INTERRUPTED = "interrupted: the crawl was stopped before it finished; the next pass fetches the rest"


class StoragePipeline:
    #: Pipelines whose spider is still open (what an interrupt must record).
    open: set[StoragePipeline] = set()

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.buffer: list[Article] = []
        self.counts = UpsertCounts()
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Any) -> StoragePipeline:
        return cls(crawler)

    @property
    def spider(self) -> Any:
        return self.crawler.spider

    def open_spider(self, *args: Any) -> None:
        StoragePipeline.open.add(self)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, NoticePage):
            return self.store_page(item)
        if isinstance(item, HostRest):
            with write(self.spider.engine) as conn:  # at once, a dry run too: politeness, not data
                rest_host(conn, item.site, item.until)
            return item
        if isinstance(item, ArticleEvent):
            return self.store_event(item)
        if item.canonical_url in self.seen:  # the same entry listed twice in one feed
            self.counts.known += 1
            return item
        self.seen.add(item.canonical_url)
        if self.spider.dry_run:
            out = item.to_dict()
            out["published_at"] = item.published_at.isoformat() if item.published_at else None
            out["fetched_at"] = item.fetched_at.isoformat() if item.fetched_at else None
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
            return item
        self.buffer.append(item)
        if len(self.buffer) >= BATCH:
            self.flush()
        return item

    def store_page(self, page: NoticePage) -> NoticePage:
        """One page of notices in one transaction (a killed crawl leaves whole pages). Only judged
        pages: a crawl whose settings lack the judgement (pipelines/crawl_settings.py) would
        otherwise store every notice of the API as if it mattered."""
        if not page.judged:
            self.spider.fail("notices reached storage unjudged: crawl with SCRAPY_SETTINGS_MODULE="
                             "pipelines.crawl_settings (as collect does); nothing stored")
            page.notices, page.then = [], None
            return page
        if self.spider.dry_run:
            for n in page.notices:
                out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in n.items()}
                sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
            return page
        if page.notices:
            with write(self.spider.engine) as conn:
                counts = store_notices(conn, page.notices)
            page.new, page.known = counts.new, counts.known
            self.counts.new += counts.new
            self.counts.known += counts.known
        return page

    def store_event(self, event: ArticleEvent) -> ArticleEvent:
        if self.spider.dry_run:
            return event
        with write(self.spider.engine) as conn:
            if event.version is not None:
                store_articles(conn, [event.version])
            add_event(conn, event.article_id, event.kind, event.detail)
        return event

    def flush(self) -> None:
        if not self.buffer:
            return
        with write(self.spider.engine) as conn:
            c = store_articles(conn, self.buffer)
        self.counts.new += c.new
        self.counts.known += c.known
        self.counts.updated += c.updated
        emit("stored", source=self.spider.source["name"], n=c.new + c.updated)
        self.buffer.clear()

    def interrupted(self) -> None:
        """Store what is whole, then one fetch-log line saying the pass was cut short."""
        StoragePipeline.open.discard(self)
        self.flush()
        if self.spider.dry_run:
            return
        health = self.spider.health
        health.warn(INTERRUPTED)
        entry = self._entry(health)
        with write(self.spider.engine) as conn:
            source_store.log_fetch(conn, entry)
        self._done(entry, self.spider.source.get("kind", ""))

    def _entry(self, health: PassReport) -> dict[str, Any]:
        spider = self.spider
        known = self.counts.known + health.known_skipped
        new = self.counts.new
        messages = health.messages()
        stats = self.crawler.stats.get_stats()
        return {
            "source": spider.source["name"], "started_at": spider.started_at,
            "finished_at": datetime.now(timezone.utc), "status": health.status,
            "http_status": health.http_status, "bytes": int(stats.get("downloader/response_bytes", 0)),
            "requests": int(stats.get("downloader/request_count", 0)),
            "items_new": new, "items_known": known, "items_updated": self.counts.updated,
            "message": "; ".join(messages)[:4000] or None,
        }

    @staticmethod
    def _done(entry: dict[str, Any], kind: str = "") -> None:
        emit("done", source=entry["source"], status=entry["status"], new=entry["items_new"],
             known=entry["items_known"], updated=entry["items_updated"], message=entry["message"], kind=kind)

    def close_spider(self, *args: Any) -> None:
        StoragePipeline.open.discard(self)
        spider = self.spider
        self.flush()
        if spider.dry_run:
            return
        health = spider.health
        entry = self._entry(health)
        new, known = entry["items_new"], entry["items_known"]
        with write(spider.engine) as conn:
            source_store.log_fetch(conn, entry)
            source_store.save_polling(conn, spider.source["name"], after_pass(
                spider.source, ok=health.status != "error", new=new, known=known,
                now=entry["finished_at"], retry_after=health.retry_after_until))
            if health.paged:  # set by paged spiders only; None clears it
                source_store.save_cursor(conn, spider.source["name"], health.cursor)
            learn_outlet_name(conn, spider)
            v = health.validators
            if v and health.status == "ok":
                source_store.save_validators(conn, spider.source["name"], v.etag, v.last_modified, v.body_hash)
        self._done(entry, spider.source.get("kind", ""))


def learn_outlet_name(conn: Any, spider: Any) -> str | None:
    """After a pass: the source's outlet name from what its pages and feed said (issue 12), into
    sources.outlet_learned; then stored headlines that still carry a name learnt only now (the
    suffix the source's titles share, say) lose it. A pass that saw no page naming the outlet
    does not replace a name learnt before (a feed title is a weaker statement than og:site_name)."""
    signals = getattr(spider, "outlet_signals", None)
    if not signals or not (signals["site_names"] or signals["feed_title"] or signals["titles"]):
        return None
    name = spider.source["name"]
    titles = signals["titles"] + raw_titles(conn, name)
    learned = learn_outlet(signals["site_names"], signals["feed_title"], titles)
    before = spider.source.get("outlet_learned")
    if learned and learned != before and (signals["site_names"] or not before):
        source_store.save_outlet_learned(conn, name, learned)
    else:
        learned = before or learned
    # The suffix the titles share is cut even when the outlet is learnt under another name; a
    # shared prefix only when it is the learnt name (series kickers, "Analysis: …", are prefixes).
    names = [n for n in (spider.source.get("outlet"), learned, feed_outlet(signals["feed_title"]),
                         shared_affix(titles, where=("end",))) if n]
    keys = {name_key(n) for n in names}

    def clean(title: str, raw_title: str | None) -> str:
        # A headline that is only the outlet's name was its logo <h1>: the <title> says more.
        if name_key(title) in keys and raw_title:
            title = raw_title
        return strip_outlet(title, names)

    retitle(conn, name, names, clean)
    return learned
