"""PostgreSQL's plan for a full-text search: matches found through the GIN index, never by walking
the date index, and as few article rows read as the answer allows.

Two costs decide the time at 200,000 articles (bench/console.py): every match the GIN index returns
is a heap row to read (a common word matches a tenth of the archive), and a phrase needs each
candidate's stored tsvector (GIN keeps no positions), several kilobytes to detoast. So:

- The match and the filters run in a MATERIALIZED CTE, sorted only after: the planner cannot turn
  ORDER BY published_at DESC LIMIT into a backwards walk of ix_articles_published_at that tests
  rows one by one (27.7 s for a rare phrase with filters).
- Words only (no phrase), newest first in widening windows: the page is first sought among articles of the last
  FIRST_WINDOW_DAYS days before the newest one (the GIN bitmap ANDed with the date index's, so
  only those rows are read), then one wide enough at the rate seen, or at once all of them (a rare
  match pays about one extra twelfth). A window that yields a full page holds the true
  first page: every article outside it is older than every article inside.
- A phrase is first matched as its words (exact in the index, no recheck) with the filters, and the
  phrase itself is tested on the survivors newest first, only until the page is full. No windows
  for a phrase: each would repeat the index scan and the tests of the newest survivors (measured
  at 200,000 articles: a rare phrase 207 -> 182 ms, a common one 676 -> 349 ms without them).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, literal_column, select

from storage.schema import PG_SEARCH_COLUMN, articles

if TYPE_CHECKING:
    from storage.search import Query

#: The first window (a busy query fills a page in days); MAX_WINDOW_DAYS and wider is all of it.
FIRST_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 365


def tsquery(query: Query, relaxed: bool = False) -> Any:
    """The tsquery of a parsed query; `relaxed` matches a superset with no phrase in it (a phrase
    becomes its words, an excluded phrase is dropped), which the GIN index answers exactly."""
    def tsq(term: str) -> Any:
        return func.plainto_tsquery("english", term) if relaxed else func.phraseto_tsquery("english", term)

    combined = None
    for clause in query.clauses:
        part = tsq(clause[0])
        for term in clause[1:]:
            part = func.tsquery_or(part, tsq(term))
        combined = part if combined is None else func.tsquery_and(combined, part)
    for term in query.exclude:
        if not (relaxed and " " in term):
            combined = func.tsquery_and(combined, func.tsquery_not(tsq(term)))
    return combined


def _document(table_name: str = "articles") -> Any:
    return literal_column(f"{table_name}.{PG_SEARCH_COLUMN}")


def condition(query: Query) -> Any:
    """`articles.search_tsv @@ tsquery` (the stored column of migration 0011, outside the metadata)."""
    return _document().op("@@")(tsquery(query))


def _has_phrase(query: Query) -> bool:
    return any(" " in t for t in [*query.exclude, *(t for c in query.clauses for t in c)])


def _page(query: Query, conds: list[Any], columns: tuple[str, ...], limit: int, offset: int) -> Any:
    if not _has_phrase(query):
        hits = (select(*(articles.c[c] for c in columns)).where(condition(query), *conds)
                .cte("search_hits").prefix_with("MATERIALIZED"))
        return (select(*hits.c).order_by(hits.c.published_at.desc(), hits.c.id)
                .limit(limit).offset(offset))
    # The stored tsvector rides along in the CTE as a TOAST pointer: only the candidates that pass
    # the filters have theirs read for the phrase test.
    candidates = (select(*(articles.c[c] for c in columns), _document().label(PG_SEARCH_COLUMN))
                  .where(_document().op("@@")(tsquery(query, relaxed=True)), *conds)
                  .cte("search_candidates").prefix_with("MATERIALIZED"))
    # Sorted first behind an OFFSET 0 fence (the phrase test cannot be pushed below the sort), so
    # the test runs on the newest candidates only until the page is full: a common phrase reads a
    # few dozen tsvectors, not every candidate's.
    ordered = (select(*candidates.c).order_by(candidates.c.published_at.desc(), candidates.c.id)
               .offset(0).subquery("search_ordered"))
    return (select(*(ordered.c[c] for c in columns))
            .where(ordered.c[PG_SEARCH_COLUMN].op("@@")(tsquery(query)))
            .order_by(ordered.c.published_at.desc(), ordered.c.id).limit(limit).offset(offset))


def search(conn: Connection, query: Query, conds: list[Any], columns: tuple[str, ...], limit: int,
           offset: int, end: datetime | None = None) -> list[dict[str, Any]]:
    """One page of matches, newest first, ties by id (the same rows and order as one big query);
    `end` is the filters' exclusive upper date, where the windows start."""
    newest, days = None, None
    if not _has_phrase(query):  # a phrase's own test already stops at a full page (see _page)
        newest_q = select(func.max(articles.c.published_at))  # one step down ix_articles_published_at
        if end is not None:
            newest_q = newest_q.where(articles.c.published_at < end)
        newest = conn.execute(newest_q).scalar()
        days = FIRST_WINDOW_DAYS if newest is not None else None
    while True:
        window = [] if days is None or newest is None else [articles.c.published_at >= newest - timedelta(days=days)]
        rows = [dict(r._mapping) for r in conn.execute(_page(query, [*conds, *window], columns, limit, offset))]
        if days is None or len(rows) >= limit:
            return rows
        days = _wider(days, len(rows), limit)


def _wider(days: int, found: int, limit: int) -> int | None:
    """The next window: wide enough, at the rate just seen, to fill the page twice over; the whole
    archive (None) when the window found nothing or would cover a year or more anyway."""
    if found == 0:
        return None
    wanted = days * limit * 2 // found
    return wanted if wanted < MAX_WINDOW_DAYS else None
