"""Full-text search (SQLite FTS5 and PostgreSQL tsvector): phrases, AND/OR/NOT, implicit AND,
filters, hostile query text, and the index following stored articles (triggers on SQLite)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import update

from storage import search
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, read, write
from storage.schema import articles

WHEN = datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc)
DOCS = {
    "a": ("Met expands live facial recognition", "Officers in Croydon used live facial recognition vans."),
    "b": ("Council debates recognition of facial hair rules", "A live debate about beards in the council chamber."),
    "c": ("Palantir contract questioned", "The force's data platform deal with Palantir faces scrutiny."),
    "d": ("Football club signs striker", "The live match drew a record crowd."),
}


def _store(url: str) -> dict[str, str]:
    engine = get_engine(url)
    with write(engine) as conn:
        store_articles(conn, [Article(url=f"https://news.example/{k}", canonical_url=f"https://news.example/{k}",
                                      source="src-" + ("x" if k in "ab" else "y"), title=t, text=x,
                                      published_at=WHEN) for k, (t, x) in DOCS.items()])
    with read(engine) as conn:
        rows = conn.execute(articles.select()).all()
    return {r.canonical_url.rsplit("/", 1)[1]: r.id for r in rows}


def _hits(url: str, q: str, **filters: object) -> set[str]:
    with read(get_engine(url)) as conn:
        rows = search.search(conn, q, search.Filters(**filters))  # type: ignore[arg-type]
    return {r["canonical_url"].rsplit("/", 1)[1] for r in rows}


def test_parse() -> None:
    q = search.parse('"live facial recognition" met OR police -football NOT beards')
    assert q.clauses == [["live facial recognition"], ["met", "police"]] and q.exclude == ["football", "beards"]
    assert search.fts5_expression(q) == ('("live facial recognition") AND ("met" OR "police") '
                                         'NOT "football" NOT "beards"')
    with pytest.raises(search.QueryError):
        search.parse("NOT police")
    with pytest.raises(search.QueryError):
        search.parse("met OR NOT police")
    # FTS syntax inside a word is only a separator: the pieces become a quoted phrase.
    assert search.parse('a"b NEAR(c d) * ^e').clauses == [["a b"], ["NEAR c"], ["d"], ["e"]]


def test_search_both_backends(db_url: str) -> None:
    _store(db_url)
    assert _hits(db_url, '"live facial recognition"') == {"a"}  # a phrase, not the words anywhere
    assert _hits(db_url, "live facial recognition") == {"a", "b"}  # implicit AND
    assert _hits(db_url, "palantir OR croydon") == {"a", "c"}
    assert _hits(db_url, "live NOT football") == {"a", "b"}
    assert _hits(db_url, "live AND recognition -beards") == {"a"}
    assert _hits(db_url, "live", sources=["src-y"]) == {"d"}
    assert _hits(db_url, "") == set(DOCS)
    for hostile in ('"', "'; DROP TABLE articles; --", "NEAR(a b)", "*", "title:met", "a AND", "OR OR", "\\",
                    "\x00", "((", "-"):
        _hits(db_url, hostile)  # never a syntax error from the backend
    assert _hits(db_url, "title:met") == set()  # not column syntax: the phrase "title met"
    assert _hits(db_url, "live-facial") == {"a"}  # a hyphenated word is the phrase "live facial"
    # Phrases mixed with OR and NOT (PostgreSQL matches their words first, then the phrases).
    assert _hits(db_url, 'live -"facial recognition"') == {"b", "d"}  # b has the words, not the phrase
    assert _hits(db_url, '"live debate" OR "facial recognition"') == {"a", "b"}
    assert _hits(db_url, '"recognition of facial"') == {"b"}


def test_index_follows_updates(db_url: str) -> None:
    ids = _store(db_url)
    with write(get_engine(db_url)) as conn:
        conn.execute(update(articles).where(articles.c.id == ids["d"]).values(text="Now about Palantir."))
    assert _hits(db_url, "palantir") == {"c", "d"}
    assert _hits(db_url, "striker") == {"d"}  # the title is unchanged
    assert _hits(db_url, "crowd") == set()


def test_matches_come_newest_first_in_pages(db_url: str) -> None:
    """The match is found first and sorted after (PostgreSQL's CTE): the order and the pages are
    still newest first, ties by id, with the filters applied."""
    from datetime import timedelta

    engine = get_engine(db_url)
    arts = [Article(url=f"https://news.example/p{i}", canonical_url=f"https://news.example/p{i}",
                    source="src-x" if i % 3 else "src-y", title=f"Palantir contract note {i}",
                    text="Scrutiny of the data platform." if i % 4 else "Nothing about the deal.",
                    published_at=WHEN - timedelta(hours=i // 2)) for i in range(24)]  # pairs share a time
    with write(engine) as conn:
        store_articles(conn, arts)
    with read(engine) as conn:
        rows = conn.execute(articles.select().where(articles.c.source == "src-x")).all()
        expected = [r.id for r in sorted((r for r in rows if "Scrutiny" in r.text),
                                         key=lambda r: (-r.published_at.timestamp(), r.id))]
        f = search.Filters(sources=["src-x"])
        pages = [search.search(conn, "palantir scrutiny", f, limit=4, offset=o) for o in range(0, 24, 4)]
    got = [r["id"] for page in pages for r in page]
    assert len(expected) == 12 and got == expected
