"""Digest stage: the week's relevant stories, shaped per subscriber, as HTML, text and .eml.

The week's stories are computed once and filtered per reader, so 200 subscribers cost one query.
Every scraped string reaches the templates as data and is escaped by Jinja2's autoescape; links
are emitted only for http(s) article URLs.
"""
from __future__ import annotations

import hashlib
import html
import os
import re
import signal
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader
from sqlalchemy.engine import make_url

from pipelines import tone, weeks
from pipelines.settings import PACKAGE_DIR, Settings
from pipelines.subscribers import load_profiles
from pipelines.taxonomy import load as load_taxonomy
from storage import articles as store
from storage import notices as notice_store
from storage import sources as source_store
from storage.db import get_engine, read

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
MAX_STORIES = 25


def clean(text: str, limit: int = 300) -> str:
    """One line of display text: no control or bidi-override characters, bounded length."""
    text = " ".join(_CONTROL.sub(" ", text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_link(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def article_link(row: dict[str, Any]) -> str | None:
    """The article's own page; None for a feed entry that had no usable link (its identity is
    feed URL + "#" + guid, and linking readers to the feed would be no help)."""
    return None if "#" in row["canonical_url"] else safe_link(row["url"])


@dataclass
class WeekData:
    week: str
    stories: list[dict[str, Any]]
    figures: dict[str, int]
    health: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    #: slug -> mean stance polarity per week, oldest first, for the last TREND_WEEKS weeks
    trend: dict[str, list[float | None]] = field(default_factory=dict)
    trend_weeks: list[str] = field(default_factory=list)
    #: edits, corrections and takedowns found by the recheck pass since the week began
    events: list[dict[str, Any]] = field(default_factory=list)
    #: procurement notices (OCDS releases) published in the week, for the tender watch
    notices: list[dict[str, Any]] = field(default_factory=list)
    # -- deadline reminders (issue 16): tenders closing within DEADLINE_DAYS of the week's end --
    closing: list[dict[str, Any]] = field(default_factory=list)


TREND_WEEKS = 8
#: Deadline reminders look this far past the digest week's end (profiles.yaml `deadline_reminders`).
DEADLINE_DAYS = 14


def _figures(rows: list[dict[str, Any]]) -> dict[str, int]:
    rel = [r for r in rows if r["relevant"] and not r["duplicate_of"] and r["extraction"] != "no-text"]
    return {"articles": len(rel), "stories": len({r["story_id"] for r in rel}),
            "outlets": len({r["source"] for r in rel})}


def _stories(rows: list[dict[str, Any]], tags: dict[str, list[dict[str, Any]]], tax: Any,
             week_start: datetime, known_stories: dict[str, dict[str, Any]],
             threads: dict[str, str]) -> list[dict[str, Any]]:
    by_story: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        # Pages with no article text never become an (empty) digest item (T18).
        if r["relevant"] and r["extraction"] != "no-text":
            by_story.setdefault(r["story_id"] or r["id"], []).append(r)
    stories = []
    for sid, members in by_story.items():
        originals = [m for m in members if not m["duplicate_of"]] or members
        lead = max(originals, key=lambda m: (m["relevance"] or 0, -m["published_at"].timestamp()))
        story_tags: dict[str, dict[str, Any]] = {}
        for m in members:
            for t in tags.get(m["id"], []):
                story_tags.setdefault(t["slug"], t)
        outlets, seen = [], set()
        for m in sorted(members, key=lambda m: m["published_at"]):
            if m["source"] in seen:
                continue
            seen.add(m["source"])
            outlets.append({"source": clean(m["source"], 80), "link": article_link(m),
                            "summary_only": m["extraction"] == "feed-summary"})
        story_row = known_stories.get(sid)
        first_seen = min(m["published_at"] for m in members)
        if story_row is not None:
            first_seen = min(first_seen, story_row["first_seen_at"])
        relevance = max(m["relevance"] or 0 for m in members)
        stories.append({
            "id": sid, "headline": clean(originals[0]["title"] or lead["title"]),
            "link": article_link(originals[0]),
            "first_seen": first_seen.astimezone(weeks.LONDON).strftime("%a %d %b %H:%M"),
            "continuing": first_seen < week_start,
            # The saga this event continues, named by its first headline before this week.
            "thread": clean(threads.get((story_row or {}).get("thread_id") or "", ""), 160) or None,
            "outlets": outlets, "slugs": sorted(story_tags),
            "tags": [tax.tags[s].label for s in sorted(story_tags) if s in tax.tags],
            "tag_rows": story_tags, "relevance": relevance,
            "reason": clean(lead["relevance_reason"] or "", 200),
            "weight": len(outlets) * 2 + len(members) + relevance,
        })
    stories.sort(key=lambda s: (-s["weight"], s["headline"]))
    return stories


def _coverage(rows: list[dict[str, Any]], fetches: list[dict[str, Any]],
              registry: list[dict[str, Any]]) -> dict[str, Any]:
    """Which sources failed (last fetch an error) or went silent (nothing published this week that
    we saw), and which items could only be read from their feed summary."""
    last = {f["source"]: f for f in fetches}
    seen = {r["source"] for r in rows}
    failing, silent = [], []
    for src in registry:
        if src["status"] != "active":
            continue
        f = last.get(src["name"])
        if f is not None and f["status"] == "error":
            failing.append({"name": src["name"], "why": clean(f["message"] or "error", 160)})
        elif src["name"] not in seen:
            silent.append({"name": src["name"], "why": "no items published this week"
                           if f is not None else "not collected since the week began"})
    summary_only = [{"title": clean(r["title"], 160), "source": clean(r["source"], 80), "link": article_link(r)}
                    for r in rows if r["relevant"] and r["extraction"] == "feed-summary" and not r["duplicate_of"]]
    return {"failing": failing, "silent": silent, "summary_only": summary_only}


def _trend(conn: Any, week: str, slugs: list[str]) -> tuple[list[str], dict[str, list[float | None]]]:
    names = [week]
    for _ in range(TREND_WEEKS - 1):
        names.insert(0, weeks.previous(names[0]))
    start, end = weeks.window(names[0])[0], weeks.window(week)[1]
    sums: dict[tuple[str, str], list[float]] = {}
    for published, slug, polarity in store.tag_polarities(conn, start, end, slugs):
        sums.setdefault((slug, weeks.week_of(published)), []).append(polarity)
    trend = {slug: [round(sum(v) / len(v), 3) if (v := sums.get((slug, w))) else None for w in names]
             for slug in slugs}
    return names, trend


def gather(settings: Settings, week: str) -> WeekData:
    """Everything a digest of `week` can show, computed once for all subscribers."""
    start, end = weeks.window(week)
    prev_start, prev_end = weeks.window(weeks.previous(week))
    tax = load_taxonomy(settings.taxonomy, settings.gazetteer)
    engine = get_engine(settings.db)
    with read(engine) as conn:
        rows = store.week_articles(conn, start, end)
        prev = store.week_articles(conn, prev_start, prev_end)
        tags = store.tags_for(conn, [r["id"] for r in rows])
        known = store.stories_by_id(conn, sorted({r["story_id"] for r in rows if r["story_id"]}))
        threads = store.thread_starts(conn, sorted({s["thread_id"] for s in known.values() if s["thread_id"]}), start)
        health = source_store.health(conn)
        registry = source_store.list_sources(conn)
        # Fetches up to a week after the week ends still saw its articles (late collection, backfill).
        fetches = source_store.fetches_between(conn, start, end + timedelta(days=7))
        trend_weeks, trend = _trend(conn, week, sorted(tax.tags))
        events = store.events_between(conn, start, end + timedelta(days=7))
        notices = notice_store.notices_between(conn, start, end)
        closing = notice_store.closing_between(conn, end, end + timedelta(days=DEADLINE_DAYS))  # deadline reminders
    figures = _figures(rows)
    figures.update({f"prev_{k}": v for k, v in _figures(prev).items()})
    states = []
    for src in registry:
        h = health.get(src["name"], {})
        state = "ok"
        if h.get("last_error") and (not h.get("last_success") or h["last_error"] > h["last_success"]):
            state = "failing: " + clean(h.get("last_error_message") or "error", 120)
        elif src["status"] != "active":
            state = src["status"]
        states.append({"name": src["name"], "state": state, "items_7d": h.get("items_7d", 0)})
    return WeekData(week=week, stories=_stories(rows, tags, tax, start, known, threads), figures=figures,
                    health=states,
                    coverage=_coverage(rows, fetches, registry), trend=trend, trend_weeks=trend_weeks,
                    events=[{"kind": e["kind"], "title": clean(e["title"], 200), "source": clean(e["source"], 80),
                             "link": article_link(e), "when": e["detected_at"].astimezone(weeks.LONDON)
                             .strftime("%a %d %b")} for e in events],
                    notices=[notice_view(n) for n in notices], closing=[notice_view(n) for n in closing])


def notice_view(n: dict[str, Any]) -> dict[str, Any]:
    """One procurement notice as the tender watch shows it (display strings only, link http(s) only)."""
    value = ""
    if n.get("value") is not None:
        cur = n.get("currency") or ""
        value = f"£{n['value']:,.0f}" if cur == "GBP" else clean(f"{cur} {n['value']:,.0f}".strip(), 40)
    deadline = n.get("tender_deadline")
    return {"title": clean(n["title"], 200), "buyer": clean(n.get("buyer") or "", 120), "stage": n["stage"],
            "value": value, "suppliers": clean(", ".join(n.get("suppliers") or []), 200),
            "deadline": deadline.astimezone(weeks.LONDON).strftime("%a %d %b %Y") if deadline else "",
            "link": safe_link(n.get("url")), "why": clean("; ".join(n.get("matched") or []), 200)}


def _change(now: int, before: int) -> str:
    diff = now - before
    return f" ({'+' if diff >= 0 else '−'}{abs(diff)} on last week)"


@dataclass
class Digest:
    email: str
    week: str
    subject: str
    html: str
    text: str
    message: EmailMessage
    stories: int


def message_id(email: str, week: str) -> str:
    """Deterministic per (subscriber, week): a resend would be recognisably the same message."""
    return f"<digest.{week}.{hashlib.sha256(email.lower().encode()).hexdigest()[:24]}@scrutineer.invalid>"


_env: Environment | None = None


def _templates() -> Environment:
    global _env
    if _env is None:
        _env = Environment(loader=FileSystemLoader(PACKAGE_DIR / "templates"),
                           # HTML templates escape every value; the text/plain part must not.
                           autoescape=lambda name: bool(name and name.endswith(".html.j2")),
                           trim_blocks=False, lstrip_blocks=False)
    return _env


CHART_CID = "sentiment-chart@scrutineer.invalid"
CHART_TOPICS = 4


def _chart(settings: Settings, data: WeekData, slugs: list[str]) -> tuple[bytes | None, list[dict[str, Any]]]:
    """The sentiment-by-topic PNG and its text alternative (one row per topic)."""
    from pipelines.chart import PALETTE, line_chart

    tax = load_taxonomy(settings.taxonomy, settings.gazetteer)
    chosen = [s for s in slugs if any(v is not None for v in data.trend.get(s, []))][:CHART_TOPICS]
    if not chosen:
        return None, []
    legend = []
    for i, slug in enumerate(chosen):
        values = data.trend[slug]
        r, g, b = PALETTE[i % len(PALETTE)]
        legend.append({"label": tax.tags[slug].label, "color": f"#{r:02x}{g:02x}{b:02x}",
                       "values": ["–" if v is None else f"{v:+.2f}" for v in values]})
    return line_chart([data.trend[s] for s in chosen]), legend


def render(settings: Settings, data: WeekData, subscriber: dict[str, Any]) -> Digest:
    profiles = load_profiles(settings)
    profile = profiles.get(subscriber.get("profile") or "analyst", profiles["analyst"])
    tax = load_taxonomy(settings.taxonomy, settings.gazetteer)
    topics = list(subscriber.get("topics") or [])
    wanted = set(topics or profile.get("topics") or [])
    chosen = []
    for s in data.stories:
        matched = sorted(wanted & set(s["slugs"])) if wanted else []
        if wanted and not matched:
            continue
        stance = []
        for slug in profile.get("stance", []):
            t = s["tag_rows"].get(slug)
            if t and t.get("polarity") is not None:
                stance.append({"label": tax.tags[slug].label, "tone": tone.label_for(t["polarity"]),
                               "evidence": clean(t["evidence"], 280)})
        why = ", ".join(tax.tags[m].label for m in matched if m in tax.tags) if matched else "all relevant stories"
        chosen.append({**s, "stance": stance[:3], "why": why})
        if len(chosen) >= MAX_STORIES:
            break
    tenders = [s for s in data.stories if "procurement" in s["slugs"]][:10] if profile.get("tenders") else []
    chart_png, legend = _chart(settings, data, topics or list(profile.get("stance", [])))
    f = data.figures
    start, end = weeks.window(data.week)
    period = (f"{start.astimezone(weeks.LONDON):%a %d %b %Y} to "
              f"{end.astimezone(weeks.LONDON):%a %d %b %Y}, Europe/London")
    token = subscriber.get("token") or ""
    unsubscribe_url = f"{settings.public_url.rstrip('/')}/unsubscribe/{token}"
    lead = f": {chosen[0]['headline']}" if chosen else ""
    subject = clean(f"Scrutineer {data.week}, {len(chosen)} stories{lead}", 200)
    ctx = {
        "subject": subject, "week": data.week, "period": period, "stories": chosen, "tenders": tenders,
        "notices": data.notices[:10] if profile.get("tenders") else [],
        "closing": data.closing if profile.get("deadline_reminders") else [],  # deadline reminders (issue 16)
        "profile_label": profile.get("label", "Digest"), "topics": topics,
        "figures": {"stories": f["stories"], "articles": f["articles"], "outlets": f["outlets"],
                    "stories_change": _change(f["stories"], f["prev_stories"]),
                    "articles_change": _change(f["articles"], f["prev_articles"]),
                    "outlets_change": _change(f["outlets"], f["prev_outlets"])},
        "chart_cid": CHART_CID if chart_png else None, "legend": legend, "trend_weeks": data.trend_weeks,
        "coverage": data.coverage, "health": data.health if profile.get("health") else [], "events": data.events,
        "unsubscribe_url": unsubscribe_url,
    }
    html = _templates().get_template("digest.html.j2").render(ctx)
    text = _templates().get_template("digest.txt.j2").render(ctx)
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = subject
    msg["From"] = settings.mail_from
    msg["To"] = Address(display_name=clean(subscriber.get("name") or "", 100), addr_spec=subscriber["email"])
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = message_id(subscriber["email"], data.week)
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <mailto:{settings.unsubscribe_mailto}?subject=unsubscribe-{token}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if chart_png:
        # RFC 2387 multipart/related inside the HTML alternative; the image travels with the mail.
        msg.get_payload()[1].add_related(chart_png, maintype="image", subtype="png", cid=f"<{CHART_CID}>",
                                         filename="sentiment.png", disposition="inline")
    return Digest(subscriber["email"], data.week, subject, html, text, msg, len(chosen))


def file_stem(email: str, week: str) -> str:
    return f"{week}--" + re.sub(r"[^A-Za-z0-9._-]", "_", email)[:80]


def write_files(digest: Digest, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(digest.email, digest.week)
    paths = [out / f"{stem}.html", out / f"{stem}.txt", out / f"{stem}.eml"]
    paths[0].write_text(digest.html, encoding="utf-8")
    paths[1].write_text(digest.text, encoding="utf-8")
    paths[2].write_bytes(digest.message.as_bytes())
    return paths


@dataclass
class DigestReport:
    week: str
    files: list[Path] = field(default_factory=list)
    outcomes: list[Any] = field(default_factory=list)
    digests: list[Digest] = field(default_factory=list)


def run(settings: Settings, week: str | None = None, subscriber: str | None = None, out: Path | None = None,
        send: bool = False) -> DigestReport:
    """Build (and optionally write and send) the digest of `week` for each active subscriber."""
    from pipelines import mailer
    from pipelines.errors import UserError
    from storage import people

    week = week or weeks.last_complete_week()
    weeks.parse_week(week)
    engine = get_engine(settings.db)
    with read(engine) as conn:
        subs = people.list_subscribers(conn)
    if subscriber:
        subs = [s for s in subs if s["email"].lower() == subscriber.strip().lower()]
        if not subs:
            raise UserError(f"no active subscriber {subscriber!r}")
    if not subs and not send:
        subs = [{"email": "digest@scrutineer.invalid", "name": None, "profile": "analyst", "topics": [],
                 "token": ""}]
    data = gather(settings, week)
    report = DigestReport(week=week)
    for sub in subs:
        report.digests.append(render(settings, data, sub))
    if out is not None:
        for d in report.digests:
            report.files.extend(write_files(d, out))
    archive(settings, report)
    if send and report.digests:
        cfg = mailer.parse_smtp_url(settings.smtp_url)
        smtp = mailer.connect(cfg)
        try:
            for i, d in enumerate(report.digests):
                if os.environ.get("SCRUTINEER_TEST_FAULT") == f"mid_batch:{i}":
                    os.kill(os.getpid(), signal.SIGKILL)
                report.outcomes.append(mailer.deliver(engine, smtp, d.email, week, d.message,
                                                      message_id(d.email, week), _envelope_from(settings)))
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
    return report


def archive_dir(settings: Settings) -> Path:
    """Beside a SQLite database (so a test's or the demo's archive stays with its data), else data/."""
    if settings.archive_dir is not None:
        return settings.archive_dir
    url = make_url(settings.db)
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "archive"
    return Path("data") / "archive"


def archive(settings: Settings, report: DigestReport) -> Path:
    """Keep every digest built, by week, with an index page linking them (newest first)."""
    root = archive_dir(settings)
    for d in report.digests:
        write_files(d, root / report.week)
    weeks_built = sorted((p for p in root.iterdir() if p.is_dir()), reverse=True)
    items = []
    for folder in weeks_built:
        links = " ".join(f'<a href="{html.escape(folder.name)}/{html.escape(f.name)}">{html.escape(f.stem)}</a>'
                         for f in sorted(folder.glob("*.html")))
        items.append(f"<li><strong>{html.escape(folder.name)}</strong> {links}</li>")
    (root / "index.html").write_text(
        "<!DOCTYPE html><meta charset=utf-8><title>Scrutineer digest archive</title>"
        f"<h1>Scrutineer digest archive</h1><ul>{''.join(items)}</ul>\n", encoding="utf-8")
    return root


def _envelope_from(settings: Settings) -> str:
    from email.utils import parseaddr

    return parseaddr(settings.mail_from)[1] or "digest@scrutineer.invalid"
