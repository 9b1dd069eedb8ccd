"""Article search for the console: full-text (SQLite FTS5, PostgreSQL tsvector + GIN) plus filters.

The query language is what Meltwater and Talkwalker users type: words, "quoted phrases", AND, OR,
NOT (or a leading -), implicit AND between terms. It is parsed here into clauses and rebuilt for
each backend from quoted terms and bound parameters, so user text is never FTS or SQL syntax.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, literal_column, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from storage import search_pg
from storage.schema import article_tags, articles, sources

MAX_TERMS = 16
_TOKEN = re.compile(r'\s*(?:(-)?"([^"]*)"?|(\S+))')


class QueryError(ValueError):
    """A query that cannot be searched (only negations, NOT inside OR, too many terms)."""


@dataclass
class Query:
    """AND of clauses; each clause is an OR of terms (a term is a word or a phrase); `exclude` terms are NOT."""

    clauses: list[list[str]] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)


def _words(term: str) -> str:
    return " ".join(re.findall(r"\w+", term, flags=re.UNICODE))


def parse(q: str) -> Query:
    tokens: list[tuple[str, str]] = []  # (kind, value): op AND/OR/NOT, term, neg-term
    for m in _TOKEN.finditer(q or ""):
        neg, phrase, word = m.group(1), m.group(2), m.group(3)
        if phrase is not None:
            value = _words(phrase)
            if value:
                tokens.append(("neg" if neg else "term", value))
            continue
        if word in ("AND", "OR", "NOT"):
            tokens.append(("op", word))
            continue
        negated = word.startswith("-") and len(word) > 1
        value = _words(word[1:] if negated else word)
        if value:
            tokens.append(("neg" if negated else "term", value))
    query = Query()
    pending_or = False
    negate_next = False
    for kind, value in tokens:
        if kind == "op":
            if value == "OR":
                pending_or = bool(query.clauses)
            elif value == "NOT":
                negate_next = True
            continue
        if kind == "neg" or negate_next:
            if pending_or:
                raise QueryError("NOT cannot be combined with OR; write the exclusion as its own term")
            query.exclude.append(value)
            negate_next = False
            continue
        if pending_or:
            query.clauses[-1].append(value)
            pending_or = False
        else:
            query.clauses.append([value])
    if query.exclude and not query.clauses:
        raise QueryError("a query needs at least one term that is not excluded")
    if sum(len(c) for c in query.clauses) + len(query.exclude) > MAX_TERMS:
        raise QueryError(f"at most {MAX_TERMS} terms")
    return query


def fts5_expression(query: Query) -> str:
    """The FTS5 MATCH string: every term a quoted string (a phrase when it has several words)."""
    def quoted(term: str) -> str:
        return '"' + term.replace('"', '""') + '"'

    expr = " AND ".join("(" + " OR ".join(quoted(t) for t in clause) + ")" for clause in query.clauses)
    for term in query.exclude:
        expr += f" NOT {quoted(term)}"
    return expr


def _pg_condition(query: Query) -> ColumnElement[bool]:
    return search_pg.condition(query)


@dataclass
class Filters:
    start: datetime | None = None  # published_at in [start, end)
    end: datetime | None = None
    tag: str | None = None
    sources: list[str] | None = None  # a source name, or every source of an outlet
    min_relevance: float | None = None
    tone: str | None = None  # sentiment_label: positive | negative | neutral
    language: str | None = None
    originals_only: bool = False


LIST_COLUMNS = ("id", "title", "url", "canonical_url", "source", "published_at", "language", "relevance",
                "relevant", "sentiment_label", "duplicate_of", "story_id")


def search(conn: Connection, q: str = "", filters: Filters | None = None, limit: int = 50,
           offset: int = 0) -> list[dict[str, Any]]:
    """Matching articles, newest first (raises QueryError for an unsearchable query)."""
    f = filters or Filters()
    stmt = select(*(articles.c[c] for c in LIST_COLUMNS))
    query = parse(q) if q and q.strip() else None
    order: Any = articles.c.published_at.desc()
    conds: list[Any] = []
    if f.start is not None:
        conds.append(articles.c.published_at >= f.start)
    if f.end is not None:
        conds.append(articles.c.published_at < f.end)
    if f.tag:
        conds.append(exists().where(article_tags.c.article_id == articles.c.id, article_tags.c.slug == f.tag))
    if f.sources is not None:
        conds.append(articles.c.source.in_(f.sources) if f.sources else articles.c.id.is_(None))
    if f.min_relevance is not None:
        conds.append(articles.c.relevance >= f.min_relevance)
    if f.tone:
        conds.append(articles.c.sentiment_label == f.tone)
    if f.language:
        conds.append(articles.c.language == f.language)
    if f.originals_only:
        conds.append(articles.c.duplicate_of.is_(None))
    if query is not None and query.clauses:
        if conn.dialect.name == "postgresql":
            return search_pg.search(conn, query, conds, LIST_COLUMNS, limit, offset, end=f.end)
        ids = text("SELECT rowid FROM articles_fts WHERE articles_fts MATCH :match").bindparams(
            match=fts5_expression(query))
        stmt = stmt.where(literal_column("articles.rowid").in_(ids))
        # Unary + keeps SQLite from walking the published_at index (and testing every article
        # against the match): the matches are looked up by rowid, then sorted.
        order = literal_column("+articles.published_at").desc()
    if conds:
        stmt = stmt.where(and_(*conds))
    stmt = stmt.order_by(order, articles.c.id).limit(limit).offset(offset)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def matching_ids(conn: Connection, query: Query) -> Any:
    """SELECT articles.id of the articles matching a parsed query (for joins elsewhere in storage)."""
    stmt = select(articles.c.id)
    if conn.dialect.name == "postgresql":
        return stmt.where(_pg_condition(query))
    ids = text("SELECT rowid FROM articles_fts WHERE articles_fts MATCH :match").bindparams(
        match=fts5_expression(query))
    return stmt.where(literal_column("articles.rowid").in_(ids))


def sources_of_outlet(conn: Connection, outlet: str) -> list[str]:
    """Source names whose reader-facing outlet name (or own name) is `outlet`."""
    from storage.sources import outlet_names

    return [name for name, shown in outlet_names(conn).items() if shown == outlet or name == outlet]


def facets(conn: Connection) -> dict[str, list[str]]:
    """The values the filter menus offer."""
    tags = [r[0] for r in conn.execute(select(article_tags.c.slug).distinct().order_by(article_tags.c.slug))]
    langs = [r[0] for r in conn.execute(select(articles.c.language).where(articles.c.language.is_not(None))
                                        .distinct().order_by(articles.c.language))]
    names = [r[0] for r in conn.execute(select(sources.c.name).order_by(sources.c.name))]
    return {"tags": tags, "languages": langs, "sources": names}


def article_detail(conn: Connection, article_id: str) -> dict[str, Any] | None:
    """One article with its tags (evidence, stance), versions, events, duplicates and story."""
    from storage.schema import article_events, article_versions, stories

    row = conn.execute(select(articles).where(articles.c.id == article_id)).first()
    if row is None:
        return None
    art = dict(row._mapping)
    art["tags"] = [dict(r._mapping) for r in conn.execute(
        select(article_tags).where(article_tags.c.article_id == article_id).order_by(article_tags.c.slug))]
    art["versions"] = [dict(r._mapping) for r in conn.execute(
        select(article_versions.c.version, article_versions.c.content_hash, article_versions.c.fetched_at,
               article_versions.c.extraction, article_versions.c.title,
               func.length(article_versions.c.raw_html_gz).label("raw_bytes"))
        .where(article_versions.c.article_id == article_id).order_by(article_versions.c.version))]
    art["events"] = [dict(r._mapping) for r in conn.execute(
        select(article_events).where(article_events.c.article_id == article_id).order_by(article_events.c.id))]
    original = art["duplicate_of"] or art["id"]
    art["duplicates"] = [dict(r._mapping) for r in conn.execute(
        select(articles.c.id, articles.c.title, articles.c.source, articles.c.published_at)
        .where(or_(articles.c.duplicate_of == original, articles.c.id == original), articles.c.id != article_id)
        .order_by(articles.c.published_at))]
    story = conn.execute(select(stories).where(stories.c.id == art["story_id"])).first() if art["story_id"] else None
    art["story"] = dict(story._mapping) if story else None
    return art


def raw_snapshot(conn: Connection, article_id: str, version: int) -> bytes | None:
    from storage.schema import article_versions

    row = conn.execute(select(article_versions.c.raw_html_gz).where(
        article_versions.c.article_id == article_id, article_versions.c.version == version)).first()
    return row[0] if row and row[0] else None


__all__ = ["Filters", "Query", "QueryError", "article_detail", "facets", "fts5_expression", "parse", "search",
           "sources_of_outlet"]
