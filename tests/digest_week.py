"""A small invented week for the digest tests: two outlets with display names, one procurement
source with notices, articles stored and processed like collected ones (no crawl needed)."""
# ruff: noqa: E501  (the invented articles are written as paragraphs, one a line)
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import update

from core.settings import Settings
from pipelines import process, sources
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, write
from storage.notices import store_notices
from storage.schema import sources as sources_table

WEEK = "2026-W47"
OUTLETS = {"ledger-rss": "The Harbour Ledger", "wire-atom": "Northfield Wire", "tenders-ocds": "Contracts Board"}
HEADLINE = "Met extends Palantir pilot while open tender for workforce platform is run"

LEDGER_TEXT = """By Amira Stone, Home Affairs Reporter
Photo: The Met's headquarters at New Scotland Yard.
LONDON (HL) - The Metropolitan Police will keep using Palantir software to review the conduct of its own staff for another year while it runs an open competition for the work. The force said the extension would avoid a gap in its ability to spot officers who pose a risk.
Civil liberties groups condemned the decision and said Palantir had been handed an unfair advantage in the new tender.
Palantir welcomed the chance to compete and said its software had helped the Met find serious misconduct quickly.
The Mayor's Office for Policing and Crime said it had blocked the earlier £50m award because the procurement broke the rules.
Sign up to our newsletter for the latest police news."""

WIRE_TEXT = """Rival suppliers are preparing bids for the Metropolitan Police's workforce standards platform, the contract Palantir currently holds on a pilot basis.
Several UK analytics firms said they would take part in the open tender, which closes in January.
Critics warned that the Met's data on its own officers is being used in ways that staff were never told about."""

NOTICES = [
    {"ocid": "ocds-test-000111", "release_id": "ocds-test-000111-tender-1", "source": "tenders-ocds",
     "title": "Workforce standards data platform", "description": "Software to bring together staff data.",
     "buyer": "Metropolitan Police Service", "suppliers": [], "value": 50_000_000, "currency": "GBP",
     "cpv": ["72300000"], "stage": "tender", "published_at": datetime(2026, 11, 17, 9, tzinfo=timezone.utc),
     "tender_deadline": datetime(2027, 1, 15, 12, tzinfo=timezone.utc),
     "url": "https://www.find-tender.service.gov.uk/Notice/000111-2026", "matched": ["buyer: police"]},
    {"ocid": "ocds-test-000222", "release_id": "ocds-test-000222-tender-1", "source": "tenders-ocds",
     "title": "Resurfacing of rural roads", "description": "Carriageway works.", "buyer": "Fenland District Council",
     "suppliers": [], "value": 2_400_000, "currency": "GBP", "cpv": ["45233223"], "stage": "tender",
     "published_at": datetime(2026, 11, 18, 9, tzinfo=timezone.utc), "tender_deadline": None,
     "url": "https://www.find-tender.service.gov.uk/Notice/000222-2026", "matched": []},
]


def build(db: str, with_notices: bool = True) -> Settings:
    """The week stored and processed; outlets named in the registry (sources.outlet)."""
    settings = Settings(db=db)
    sources.add(settings, {"name": "ledger-rss", "kind": "rss", "url": "https://ledger.example/feed.xml"})
    sources.add(settings, {"name": "wire-atom", "kind": "rss", "url": "https://wire.example/atom.xml"})
    sources.add(settings, {"name": "tenders-ocds", "kind": "ocds", "url": "https://tenders.example/ocds.json"})
    engine = get_engine(db)
    with write(engine) as conn:
        for name, outlet in OUTLETS.items():
            conn.execute(update(sources_table).where(sources_table.c.name == name).values(outlet=outlet))
        store_articles(conn, [
            Article(url="https://ledger.example/news/met-palantir", canonical_url="https://ledger.example/news/met-palantir",
                    source="ledger-rss", title=f"{HEADLINE} | News | The Harbour Ledger", text=LEDGER_TEXT,
                    published_at=datetime(2026, 11, 17, 10, tzinfo=timezone.utc)),
            Article(url="https://wire.example/rivals-line-up", canonical_url="https://wire.example/rivals-line-up",
                    source="wire-atom", title="Rival suppliers line up for the Met's workforce standards tender",
                    text=WIRE_TEXT, published_at=datetime(2026, 11, 19, 8, tzinfo=timezone.utc)),
        ])
        if with_notices:
            store_notices(conn, NOTICES)
    process.run(settings)
    return settings
