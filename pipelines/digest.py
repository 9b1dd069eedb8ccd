"""Digest stage: the week's relevant stories, shaped per subscriber, as HTML, text and .eml.

The week's stories are computed once and filtered per reader, so 200 subscribers cost one query.
Every scraped string reaches the templates as data and is escaped by Jinja2's autoescape; links
are emitted only for http(s) article URLs.
"""
from __future__ import annotations

import hashlib
import re
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipelines import sentiment, weeks
from pipelines.settings import PACKAGE_DIR, Settings
from pipelines.subscribers import load_profiles
from pipelines.taxonomy import load as load_taxonomy
from storage import articles as store
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


@dataclass
class WeekData:
    week: str
    stories: list[dict[str, Any]]
    figures: dict[str, int]
    health: list[dict[str, Any]] = field(default_factory=list)


def _figures(rows: list[dict[str, Any]]) -> dict[str, int]:
    rel = [r for r in rows if r["relevant"] and not r["duplicate_of"]]
    return {"articles": len(rel), "stories": len({r["story_id"] for r in rel}),
            "outlets": len({r["source"] for r in rows if r["relevant"]})}


def gather(settings: Settings, week: str) -> WeekData:
    """Stories of the week (relevant, one entry per story, copies folded in) and figures."""
    start, end = weeks.window(week)
    prev_start, prev_end = weeks.window(weeks.previous(week))
    tax = load_taxonomy(settings.taxonomy)
    engine = get_engine(settings.db)
    with read(engine) as conn:
        rows = store.week_articles(conn, start, end)
        prev = store.week_articles(conn, prev_start, prev_end)
        tags = store.tags_for(conn, [r["id"] for r in rows])
        health = source_store.health(conn)
        registry = source_store.list_sources(conn)
    by_story: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
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
            outlets.append({"source": clean(m["source"], 80), "link": safe_link(m["url"])})
        stories.append({
            "id": sid, "headline": clean(originals[0]["title"] or lead["title"]),
            "link": safe_link(originals[0]["url"]),
            "first_seen": min(m["published_at"] for m in members).astimezone(weeks.LONDON).strftime("%a %d %b %H:%M"),
            "outlets": outlets, "slugs": sorted(story_tags),
            "tags": [tax.tags[s].label for s in sorted(story_tags) if s in tax.tags],
            "tag_rows": story_tags, "relevance": max(m["relevance"] or 0 for m in members),
            "reason": clean(lead["relevance_reason"] or "", 200),
            "weight": len(outlets) * 2 + len(members) + max(m["relevance"] or 0 for m in members),
        })
    stories.sort(key=lambda s: (-s["weight"], s["headline"]))
    figures = _figures(rows)
    before = _figures(prev)
    figures.update({f"prev_{k}": v for k, v in before.items()})
    states = []
    for src in registry:
        h = health.get(src["name"], {})
        state = "ok"
        if h.get("last_error") and (not h.get("last_success") or h["last_error"] > h["last_success"]):
            state = "failing: " + clean(h.get("last_error_message") or "error", 120)
        elif src["status"] != "active":
            state = src["status"]
        states.append({"name": src["name"], "state": state, "items_7d": h.get("items_7d", 0)})
    return WeekData(week=week, stories=stories, figures=figures, health=states)


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
                           autoescape=select_autoescape(["html", "j2"], default_for_string=True),
                           trim_blocks=False, lstrip_blocks=False)
    return _env


def render(settings: Settings, data: WeekData, subscriber: dict[str, Any]) -> Digest:
    profiles = load_profiles(settings)
    profile = profiles.get(subscriber.get("profile") or "analyst", profiles["analyst"])
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
                stance.append({"label": load_taxonomy(settings.taxonomy).tags[slug].label,
                               "tone": sentiment.label(t["polarity"]), "evidence": clean(t["evidence"], 280)})
        why = ", ".join(matched) if matched else "all relevant stories"
        chosen.append({**s, "stance": stance[:3], "why": why})
        if len(chosen) >= MAX_STORIES:
            break
    f = data.figures
    start, end = weeks.window(data.week)
    period = (f"{start.astimezone(weeks.LONDON):%a %d %b %Y} to "
              f"{end.astimezone(weeks.LONDON):%a %d %b %Y}, Europe/London")
    token = subscriber.get("token") or ""
    unsubscribe_url = f"{settings.public_url.rstrip('/')}/unsubscribe/{token}"
    ctx = {
        "subject": "", "week": data.week, "period": period, "stories": chosen,
        "profile_label": profile.get("label", "Digest"), "topics": topics,
        "figures": {"stories": f["stories"], "articles": f["articles"], "outlets": f["outlets"],
                    "stories_change": _change(f["stories"], f["prev_stories"]),
                    "articles_change": _change(f["articles"], f["prev_articles"]),
                    "outlets_change": _change(f["outlets"], f["prev_outlets"])},
        "health": data.health if profile.get("health") else [],
        "unsubscribe_url": unsubscribe_url,
    }
    lead = f": {chosen[0]['headline']}" if chosen else ""
    subject = clean(f"Scrutineer {data.week}, {len(chosen)} stories{lead}", 200)
    ctx["subject"] = subject
    html = _templates().get_template("digest.html.j2").render(ctx)
    text = _templates().get_template("digest.txt.j2").render(ctx)
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = subject
    msg["From"] = settings.mail_from
    name = clean(subscriber.get("name") or "", 100)
    msg["To"] = Address(display_name=name, addr_spec=subscriber["email"])
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = message_id(subscriber["email"], data.week)
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <mailto:{settings.unsubscribe_mailto}?subject=unsubscribe-{token}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return Digest(subscriber["email"], data.week, subject, html, text, msg, len(chosen))


def file_stem(email: str, week: str) -> str:
    return f"{week}--" + re.sub(r"[^A-Za-z0-9._-]", "_", email)[:80]


def write_files(digest: Digest, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / file_stem(digest.email, digest.week)
    paths = [stem.with_suffix(".html"), stem.with_suffix(".txt"), stem.with_suffix(".eml")]
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
    if send and report.digests:
        cfg = mailer.parse_smtp_url(settings.smtp_url)
        smtp = mailer.connect(cfg)
        try:
            for d in report.digests:
                report.outcomes.append(mailer.deliver(engine, smtp, d.email, week, d.message,
                                                      message_id(d.email, week), _envelope_from(settings)))
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
    return report


def _envelope_from(settings: Settings) -> str:
    from email.utils import parseaddr

    return parseaddr(settings.mail_from)[1] or "digest@scrutineer.invalid"
