"""The tenders page's related news (storage.console.buyer_stories) on both backends: stories whose
articles name a buyer in their title, found through the full-text index on SQLite, exact on both."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, update

from storage.article import Article
from storage.articles import store_articles
from storage.console import buyer_stories
from storage.db import get_engine, read, write
from storage.schema import articles, stories

NOW = datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc)
TITLES = {
    "a": "Home Office buys facial recognition vans",  # names the buyer
    "b": "Officers at home: office hours change",  # the words, not the name
    "c": "Kent Police's drone trial ends",  # another buyer, with an apostrophe after it
    "d": "Met expands live facial recognition",  # none
    "e": "Old Home Office story",  # the buyer, but outside the window
}


def test_buyer_stories_both_backends(db_url: str) -> None:
    engine = get_engine(db_url)
    with write(engine) as conn:
        store_articles(conn, [Article(url=f"https://news.example/{k}", canonical_url=f"https://news.example/{k}",
                                      source="s", title=t, text="Body text.",
                                      published_at=NOW - timedelta(days=400 if k == "e" else 1))
                              for k, t in TITLES.items()])
        for k in TITLES:
            conn.execute(insert(stories).values(id=f"story-{k}", headline=TITLES[k], first_seen_at=NOW,
                                                last_seen_at=NOW, article_count=1))
            conn.execute(update(articles).where(articles.c.canonical_url == f"https://news.example/{k}")
                         .values(story_id=f"story-{k}"))
    with read(engine) as conn:
        found = {r["id"] for r in buyer_stories(conn, ["Home Office", 'Kent "Police"', "Kent Police", "x"],
                                                NOW - timedelta(days=365))}
        assert found == {"story-a", "story-c"}
        assert buyer_stories(conn, ["Thames Valley Police"], NOW - timedelta(days=365)) == []
