"""The SQLAlchemy Core schema: one table per thing users can point at.

Core (not ORM) because every write is a set-based upsert; the same definitions drive Alembic,
so a test can prove the migration head equals this file.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns tz-aware UTC on every backend (SQLite would otherwise hand back naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: every stored time is tz-aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

sources = Table(
    "sources",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("schedule", String(64), nullable=False, server_default="@hourly"),
    Column("tags", JSON, nullable=False),
    Column("options", JSON, nullable=False),  # follow_links, allow, max_pages
    Column("status", String(16), nullable=False, server_default="active"),  # active|paused|removed
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Conditional-GET state for the source's own feed/sitemap URL.
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    # Polling state (core/polling.py): the adaptive interval, when the source is next due,
    # a host's Retry-After we must honour across passes, and how many passes failed in a row.
    Column("poll_interval_s", Integer),
    Column("next_poll_at", UTCDateTime),
    Column("retry_after_until", UTCDateTime),
    Column("failures", Integer, nullable=False, server_default="0"),
    # Where a paged source (ocds) stopped early (page cap, Retry-After, a failed page): the next
    # pass resumes there, so a backlog longer than one pass is read to its end.
    Column("cursor", Text),
    # The name readers see (issue 12): `outlet` from the sources file overrides `outlet_learned`,
    # which collection fills from og:site_name, JSON-LD publisher.name, the feed's <title> or the
    # suffix the source's page titles share. storage.sources.outlet_names() resolves the two.
    Column("outlet", Text),
    Column("outlet_learned", Text),
)

fetch_log = Table(
    "fetch_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False, index=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # ok | warning | error
    Column("http_status", Integer),
    Column("bytes", Integer, nullable=False, server_default="0"),
    Column("requests", Integer, nullable=False, server_default="0"),
    Column("items_new", Integer, nullable=False, server_default="0"),
    Column("items_known", Integer, nullable=False, server_default="0"),
    Column("items_updated", Integer, nullable=False, server_default="0"),
    Column("message", Text),
)

articles = Table(
    "articles",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("canonical_url", Text, nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("source", String(64), nullable=False, index=True),
    Column("guid", Text),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("published_at", UTCDateTime, nullable=False, index=True),
    Column("published_flag", String(16)),
    Column("modified_at", UTCDateTime),
    Column("section", Text),
    Column("authors", JSON, nullable=False),
    Column("language", String(8)),
    Column("extraction", String(16), nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("content_hash", String(64), nullable=False, index=True),
    Column("version", Integer, nullable=False, server_default="1"),
    # Dedup keys, written with the article so each layer is one indexed lookup.
    Column("url_key", Text, index=True),  # host (no www.) + path (no trailing /) + query
    Column("title_key", String(64)),  # sha256 of the folded, case-folded title
    # Processing results; processed_hash != content_hash means "pending".
    Column("processed_hash", String(64)),
    Column("duplicate_of", String(20)),
    Column("story_id", String(20), index=True),
    Column("relevance", Float),
    Column("relevant", Boolean),
    Column("relevance_reason", Text),
    Column("sentiment_polarity", Float),
    Column("sentiment_label", String(8)),
    Column("textblob_polarity", Float),
    Column("sentiment_flag", String(16)),  # why tone was not scored: no-text | not-english
)

article_versions = Table(
    "article_versions",
    metadata,
    Column("article_id", String(20), ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("extraction", String(16), nullable=False),
    Column("raw_html_gz", LargeBinary),
    # The page's <title> as it was, before the outlet's name was cut from the headline (issue 12).
    Column("raw_title", Text),
)

article_tags = Table(
    "article_tags",
    metadata,
    Column("article_id", String(20), ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("slug", String(64), primary_key=True),
    Column("evidence", Text, nullable=False),  # the sentence that matched
    Column("polarity", Float),  # tone of the sentences that mention it
)

host_leases = Table(
    "host_leases",
    metadata,
    # One crawl process per host at a time, across every process and machine that crawls (collect
    # batches, Airflow tasks, `sources test`): the politeness limit is per host, not per process.
    # A lease ends when released, when its holder process is gone (same machine), or at expires_at.
    # The key is the site, host and port ("news.example:443": crawlers/runner.site_of).
    Column("host", String(255), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

lsh_bands = Table(
    "lsh_bands",
    metadata,
    # MinHash LSH buckets of original (non-duplicate) articles: a new article's candidates are the
    # rows sharing any bucket, one indexed lookup however large the archive. The bucket string
    # starts with its band number, so equal hashes in different bands never collide.
    Column("bucket", String(24), primary_key=True),
    Column("article_id", String(20), ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)

article_events = Table(
    "article_events",
    metadata,
    # Edits, corrections and takedowns found by the recheck pass, for the next digest to report.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("article_id", String(20), ForeignKey("articles.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # edited | corrected | taken-down
    Column("detected_at", UTCDateTime, nullable=False, index=True),
    Column("detail", Text),
)

stories = Table(
    "stories",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("thread_id", String(20), index=True),  # the saga this event belongs to (across weeks)
    Column("headline", Text, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("article_count", Integer, nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("name", Text),
    Column("profile", String(32), nullable=False, server_default="analyst"),
    Column("topics", JSON, nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False, server_default="active"),  # active|unsubscribed|removed
    Column("created_at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("subscriber", String(320), nullable=False),
    Column("week", String(8), nullable=False),  # ISO week, 2026-W47
    Column("message_id", Text, nullable=False),
    Column("status", String(16), nullable=False),  # sending | sent | failed | retry
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("subscriber", "week"),
)

notices = Table(
    "notices",
    metadata,
    # One row per OCDS release (procurement notice), linked to its contracting process by ocid.
    Column("id", String(20), primary_key=True),  # sha256(ocid + release id)[:20]
    Column("ocid", String(200), nullable=False, index=True),
    Column("release_id", String(200), nullable=False),
    Column("source", String(64), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("buyer", Text),
    Column("suppliers", JSON, nullable=False),
    Column("value", Float),
    Column("currency", String(8)),
    Column("cpv", JSON, nullable=False),
    Column("stage", String(16), nullable=False),  # planning | tender | award | contract
    Column("published_at", UTCDateTime, nullable=False, index=True),
    Column("tender_deadline", UTCDateTime),
    Column("url", Text),
    Column("matched", JSON, nullable=False),  # why it was kept: buyer / CPV / keyword signals
    Column("first_seen_at", UTCDateTime, nullable=False),
)

host_pacing = Table(
    "host_pacing",
    metadata,
    # The earliest instant the next request to this API host may be sent, shared by every crawl
    # process: a source's `rate:` (N per period) reserves slots here (storage/leases.reserve_slot).
    Column("host", String(255), primary_key=True),
    Column("next_at", UTCDateTime, nullable=False),
)

Index("ix_articles_pending", articles.c.processed_hash)
Index("ix_articles_source_title_key", articles.c.source, articles.c.title_key)

# -- the console (issue 14): accounts, server-side sessions, API tokens, login attempts ----------
users = Table(
    "users",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("password_hash", Text, nullable=False),  # argon2id, never the password
    Column("role", String(16), nullable=False),  # viewer | analyst | admin
    Column("created_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    # Server-side, so every uvicorn worker sees the same sessions and logout is immediate. The
    # cookie holds a random secret; only its sha256 is stored, so a database read cannot log in.
    Column("id_hash", String(64), primary_key=True),
    Column("user_email", String(320), ForeignKey("users.email", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the bearer token
    Column("user_email", String(320), ForeignKey("users.email", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    # Failed logins only, per account and per client address, shared by every worker.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(320), nullable=False, index=True),
    Column("address", String(64), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False, index=True),
)

tender_searches = Table(
    "tender_searches",
    metadata,
    # Saved tender searches (issue 14): the Tenders page's filters under a name analysts manage and
    # everyone can open. Closing dates are calendar days, as typed on the page; an empty filter is NULL.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("buyer", String(200)),
    Column("cpv", String(8)),
    Column("min_value", Float),
    Column("max_value", Float),
    Column("stage", String(16)),
    Column("closing_from", Date),
    Column("closing_to", Date),
    Column("created_by", String(320), nullable=False),  # an email, kept when the user is removed
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: The console's sources page counts articles first seen in the last 7 days per source.
Index("ix_articles_first_seen_at", articles.c.first_seen_at)
# The console's filters (bench/console.py): a tag's articles, and the language menu, without
# reading every article row (the text sits in the same rows).
Index("ix_article_tags_slug", article_tags.c.slug)
Index("ix_articles_language", articles.c.language)

#: Full-text search objects created by migration 0007 outside this metadata (an FTS5 virtual table
#: and its shadow tables on SQLite): schema comparisons skip them.
FTS_PREFIX = "articles_fts"
#: PostgreSQL only (migration 0011): articles.search_tsv, a stored generated tsvector of title and
#: text, and its GIN index. Kept out of this metadata on purpose: SQLite has no tsvector (it keeps
#: FTS5), and a metadata column would be read back by every `select(articles)` (the tsvector is
#: as large as the text). storage/search.py names it as a literal column.
PG_SEARCH_COLUMN = "search_tsv"
PG_SEARCH_INDEX = "ix_articles_search_tsv"


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's include_name hook: leave the full-text objects (FTS5 on SQLite, the tsvector
    column and its index on PostgreSQL) out of metadata comparisons."""
    if type_ == "column" and name == PG_SEARCH_COLUMN and parent_names.get("table_name") == "articles":
        return False
    if type_ == "index" and name == PG_SEARCH_INDEX:
        return False
    return not (name or "").startswith((FTS_PREFIX, "ix_" + FTS_PREFIX))
