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
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader
from sqlalchemy.engine import make_url

from core import weeks
from core.settings import Settings
from core.source_state import NORMAL_DAYS
from core.source_state import states as source_states
from crawlers.headline import strip_outlet as _strip_names
from crawlers.netpolicy import may_link
from pipelines import safefiles, story_view, tender_join, tone
from pipelines.mailer import MAIL_POLICY
from pipelines.subscribers import load_profiles
from pipelines.taxonomy import load as load_taxonomy
from storage import articles as store
from storage import notices as notice_store
from storage import sources as source_store
from storage import texts as text_store
from storage.db import get_engine, read, write

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
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url if may_link(url, os.environ.get("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", "")) else None


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
    #: source name -> the outlet name readers see
    outlets: dict[str, str] = field(default_factory=dict)
    # -- deadline reminders (issue 16): tenders closing within DEADLINE_DAYS of the week's end --
    closing: list[dict[str, Any]] = field(default_factory=list)


TREND_WEEKS = 8
#: Deadline reminders look this far past the digest week's end (profiles.yaml `deadline_reminders`).
DEADLINE_DAYS = 14


def _figures(rows: list[dict[str, Any]]) -> dict[str, int]:
    rel = [r for r in rows if r["relevant"] and not r["duplicate_of"] and r["extraction"] != "no-text"]
    return {"articles": len(rel), "stories": len({r["story_id"] for r in rel}),
            "outlets": len({r["source"] for r in rel})}


def strip_outlet(headline: str, outlet: str | None) -> str:
    """A stored title without its own outlet's name: extraction cleans titles (crawlers/headline.py),
    and the same rule here keeps a title stored before that, or a thread's first headline, clean."""
    return _strip_names(headline, [outlet]) if outlet and headline else headline


def _stories(rows: list[dict[str, Any]], tags: dict[str, list[dict[str, Any]]], tax: Any,
             week_start: datetime, known_stories: dict[str, dict[str, Any]],
             threads: dict[str, str], outlets_by_source: dict[str, str] | None = None,
             texts: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    outlets_by_source = outlets_by_source or {}
    texts = texts or {}

    def outlet(source: str) -> str:
        return clean(outlets_by_source.get(source) or source, 80)

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
            outlets.append({"source": outlet(m["source"]), "slug": m["source"], "link": article_link(m),
                            "summary_only": m["extraction"] == "feed-summary"})
        story_row = known_stories.get(sid)
        first_seen = min(m["published_at"] for m in members)
        if story_row is not None:
            first_seen = min(first_seen, story_row["first_seen_at"])
        relevance = max(m["relevance"] or 0 for m in members)
        head_row = originals[0] if originals[0]["title"] else lead
        headline = clean(strip_outlet(head_row["title"], outlets_by_source.get(head_row["source"])))
        # The lede comes from the earliest full report (not a feed summary, not a copy).
        by_time = sorted(originals, key=lambda m: m["published_at"])
        full = [m for m in by_time if m["extraction"] != "feed-summary"]
        # A story read only from feed summaries takes its lede from the outlet's own summary.
        lede = ""
        for m in full or by_time:
            stored = texts.get(m["id"]) or {}
            lede = story_view.lede(stored.get("text") or stored.get("summary") or "", headline)
            if lede:
                break
        # Evidence: body sentences of the story's original reports, earliest first, never the headline
        # (of any member) again; the sentence quoted carries the stance shown beside it.
        candidates: dict[str, list[str]] = {}
        heads = [clean(strip_outlet(m["title"] or "", outlets_by_source.get(m["source"]))) for m in members]
        for m in sorted(originals, key=lambda m: m["published_at"])[:3]:
            body = (texts.get(m["id"]) or {}).get("text") or ""
            for slug, sents in story_view.entity_sentences(tax, headline, body).items():
                for sent in sents:
                    if not any(story_view.same_as_headline(sent, h) for h in heads if h):
                        candidates.setdefault(slug, []).append(sent)
        stances = {slug: tone.label_for(t["polarity"]) for slug, t in story_tags.items()
                   if t.get("polarity") is not None}
        evidence = story_view.stance_evidence(candidates, stances, lede) if stances else {}
        stories.append({
            "id": sid, "headline": headline, "lede": clean(lede, 600),
            "evidence": {k: clean(v, 320) for k, v in evidence.items()}, "stances": stances,
            "last_seen": max(m["published_at"] for m in members).astimezone(weeks.LONDON).strftime("%a %d %b %H:%M"),
            "link": article_link(originals[0]),
            "first_seen": first_seen.astimezone(weeks.LONDON).strftime("%a %d %b %H:%M"),
            "continuing": first_seen < week_start,
            # The saga this event continues, named by its first headline before this week.
            "thread": clean(_strip_any_outlet(threads.get((story_row or {}).get("thread_id") or "", ""),
                                              outlets_by_source), 160) or None,
            "outlets": outlets, "slugs": sorted(story_tags),
            "tags": [tax.tags[s].label for s in sorted(story_tags) if s in tax.tags],
            "tag_rows": story_tags, "relevance": relevance,
            "reason": clean(lead["relevance_reason"] or "", 200),
            "weight": len(outlets) * 2 + len(members) + relevance,
        })
    stories.sort(key=lambda s: (-s["weight"], s["headline"]))
    return stories


def _strip_any_outlet(headline: str, outlets_by_source: dict[str, str]) -> str:
    """A thread's first headline carries no source, so try every known outlet name."""
    for name in sorted(set(outlets_by_source.values()), key=len, reverse=True):
        cut = strip_outlet(headline, name)
        if cut != headline:
            return cut
    return headline


def _coverage(rows: list[dict[str, Any]], fetches: list[dict[str, Any]],
              registry: list[dict[str, Any]], notices: list[dict[str, Any]] | None = None,
              outlets: dict[str, str] | None = None,
              states: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """Which sources failed (their last fetch of the week an error, or failing now by the one
    definition `sources list` and the health report use) or went silent (no articles or notices
    published this week that we saw; "never fetched" said as such), which procurement sources
    brought how many notices, and which items could only be read from their feed summary. Sources
    are named by outlet, never by slug."""
    outlets = outlets or {}

    def name(source: str) -> str:
        return clean(outlets.get(source) or source, 80)

    last = {f["source"]: f for f in fetches}
    seen = {r["source"] for r in rows}
    states = states or {}
    notice_counts: dict[str, int] = {}
    for n in notices or []:
        notice_counts[n["source"]] = notice_counts.get(n["source"], 0) + 1
    failing, silent, tender_sources = [], [], []
    for src in registry:
        if src["status"] != "active":
            continue
        f = last.get(src["name"])
        kind, why = states.get(src["name"], ("", ""))
        if f is not None and f["status"] == "error":
            failing.append({"name": name(src["name"]), "why": clean(f["message"] or "error", 160)})
        elif src["name"] in notice_counts:
            tender_sources.append({"name": name(src["name"]), "count": notice_counts[src["name"]]})
        elif kind == "failing" and src["name"] not in seen:
            failing.append({"name": name(src["name"]), "why": clean(why, 160)})
        elif src["name"] not in seen:
            silent.append({"name": name(src["name"]), "why": "never fetched" if kind == "never_fetched"
                           else "no items published this week" if f is not None
                           else "not collected since the week began"})
    summary_only = [{"title": clean(strip_outlet(r["title"], outlets.get(r["source"])), 160),
                     "source": name(r["source"]), "link": article_link(r)}
                    for r in rows if r["relevant"] and r["extraction"] == "feed-summary" and not r["duplicate_of"]]
    return {"failing": failing, "silent": silent, "summary_only": summary_only, "notices": tender_sources}


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
        now = datetime.now(timezone.utc)
        recent = source_store.fetches_between(conn, now - timedelta(days=NORMAL_DAYS + 1), now)
        trend_weeks, trend = _trend(conn, week, sorted(tax.tags))
        events = store.events_between(conn, start, end + timedelta(days=7))
        notices = notice_store.notices_between(conn, start, end)
        outlets = source_store.outlet_names(conn)
        # Text only for the originals a story shows (lede, evidence, the tender join), not the week's.
        wanted = [r["id"] for r in rows if r["relevant"] and not r["duplicate_of"] and r["extraction"] != "no-text"]
        texts = text_store.texts_for(conn, wanted)
        closing = notice_store.closing_between(conn, end, end + timedelta(days=DEADLINE_DAYS))  # deadline reminders
    figures = _figures(rows)
    figures.update({f"prev_{k}": v for k, v in _figures(prev).items()})
    def outlet(name: str) -> str:
        return clean(outlets.get(name) or name, 80)

    stories = _stories(rows, tags, tax, start, known, threads, outlets, texts)
    by_id = {r["id"]: r for r in rows}
    originals = [{**by_id[i], **texts[i], "story_id": by_id[i]["story_id"] or i} for i in wanted if i in texts]
    matches = tender_join.join(notices, originals, tax)
    per_notice = tender_join.stories_by_notice(matches)
    per_story = tender_join.notices_by_story(matches)
    story_by_id = {s["id"]: s for s in stories}
    views = []
    for n in notices:
        view = notice_view(n)
        view["news"] = [{"headline": story_by_id[sid]["headline"], "link": story_by_id[sid]["link"],
                         "why": clean(" ".join(why), 200)}
                        for sid, why in per_notice.get(n["id"], {}).items() if sid in story_by_id]
        views.append(view)
    titles = {n["id"]: clean(n["title"], 200) for n in notices}
    for st in stories:
        st["notices"] = [{"title": titles[nid], "why": clean(" ".join(why), 200)}
                         for nid, why in per_story.get(st["id"], {}).items()]
    now_states = source_states(registry, health, recent, now)  # as `sources list` says
    states = []
    for src in registry:
        h = health.get(src["name"], {})
        kind, why = now_states[src["name"]]
        states.append({"name": outlet(src["name"]), "state": f"{kind}: {clean(why, 120)}" if why else kind,
                       "items_7d": h.get("items_7d", 0)})
    return WeekData(week=week, stories=stories, figures=figures, health=states,
                    coverage=_coverage(rows, fetches, registry, notices, outlets, now_states), trend=trend,
                    trend_weeks=trend_weeks,
                    events=[{"kind": e["kind"], "title": clean(_strip_any_outlet(e["title"], outlets), 200),
                             "source": outlet(e["source"]), "link": article_link(e),
                             "when": e["detected_at"].astimezone(weeks.LONDON).strftime("%a %d %b")} for e in events],
                    notices=views, outlets=outlets, closing=[notice_view(n) for n in closing])


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
            "link": safe_link(n.get("url")), "why": clean("; ".join(n.get("matched") or []), 200),
            "cpv": clean(", ".join(n.get("cpv") or []), 120), "news": []}


#: Subject lines are cut (at a word, with an ellipsis) to stay under this many characters.
SUBJECT_MAX = 90


def subject_line(profile: str, week: str, headline: str | None) -> str:
    """"Scrutineer vendor, 2026-W47: <top story's headline>", under SUBJECT_MAX characters."""
    text = f"Scrutineer {profile}, {week}: {headline or 'no stories matched this week'}"
    return story_view.cut(clean(text, 1000), SUBJECT_MAX - 1)


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
    #: the chart PNG (inline by Content-ID in the mail; a file beside archived HTML)
    chart: bytes | None = None
    profile: str = "analyst"
    #: nothing to say: no story matched, no notice, no event (such a digest is not sent)
    empty: bool = False


def message_id(email: str, week: str) -> str:
    """Deterministic per (subscriber, week): a resend would be recognisably the same message."""
    return f"<digest.{week}.{hashlib.sha256(email.lower().encode()).hexdigest()[:24]}@scrutineer.invalid>"


_env: Environment | None = None


def _templates() -> Environment:
    global _env
    if _env is None:
        _env = Environment(loader=PackageLoader("pipelines", "templates"),
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
    wanted = subscriber.get("profile")
    profile_key: str = wanted if isinstance(wanted, str) and wanted in profiles else "analyst"
    profile = profiles[profile_key]
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
                # The quote is a body sentence whose own tone is this stance, or none at all.
                stance.append({"label": tax.tags[slug].label, "tone": tone.label_for(t["polarity"]),
                               "evidence": s["evidence"].get(slug, "")})
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
    subject = subject_line(profile_key, data.week, chosen[0]["headline"] if chosen else None)
    ctx = {
        "subject": subject, "week": data.week, "period": period, "stories": chosen, "tenders": tenders,
        # Every relevant notice of the week: they are few, and a vendor reads the list to the end.
        "notices": data.notices if profile.get("tenders") else [],
        "closing": data.closing if profile.get("deadline_reminders") else [],  # deadline reminders (issue 16)
        "profile_label": profile.get("label", "Digest"), "topics": topics,
        "figures": {"stories": f["stories"], "articles": f["articles"], "outlets": f["outlets"],
                    "stories_change": _change(f["stories"], f["prev_stories"]),
                    "articles_change": _change(f["articles"], f["prev_articles"]),
                    "outlets_change": _change(f["outlets"], f["prev_outlets"])},
        "chart_src": f"cid:{CHART_CID}" if chart_png else None, "legend": legend, "trend_weeks": data.trend_weeks,
        "coverage": data.coverage, "health": data.health if profile.get("health") else [], "events": data.events,
        "unsubscribe_url": unsubscribe_url,
    }
    html = _templates().get_template("digest.html.j2").render(ctx)
    text = _templates().get_template("digest.txt.j2").render(ctx)
    msg = EmailMessage(policy=MAIL_POLICY)
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
        html_part = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
        html_part.add_related(chart_png, maintype="image", subtype="png", cid=f"<{CHART_CID}>",
                              filename="sentiment.png", disposition="inline")
    empty = not chosen and not ctx["notices"] and not data.events
    return Digest(subscriber["email"], data.week, subject, html, text, msg, len(chosen), chart=chart_png,
                  profile=profile_key, empty=empty)


def file_stem(email: str, week: str) -> str:
    return safefiles.file_stem(email, week)


def write_files(digest: Digest, out: Path, follow: bool = True, label: str = "--out") -> list[Path]:
    """The .html (its chart a PNG file beside it: a cid: reference means nothing outside a mail),
    the .txt and the .eml exactly as sent; written 0600 and never through a planted symlink."""
    stem = file_stem(digest.email, digest.week)
    page = digest.html
    files: dict[str, bytes] = {}
    if digest.chart:
        page = page.replace(f'src="cid:{CHART_CID}"', f'src="{html.escape(stem)}.png"')
    files[f"{stem}.html"] = page.encode("utf-8")
    files[f"{stem}.txt"] = digest.text.encode("utf-8")
    files[f"{stem}.eml"] = digest.message.as_bytes()
    if digest.chart:
        files[f"{stem}.png"] = digest.chart
    return safefiles.write_files(out, files, follow=follow, label=label)


@dataclass
class DigestReport:
    week: str
    files: list[Path] = field(default_factory=list)
    outcomes: list[Any] = field(default_factory=list)
    digests: list[Digest] = field(default_factory=list)


def check_send(settings: Settings, week: str, allow_partial: bool = False,
               now: datetime | None = None) -> None:
    """Refuse a send that would go wrong for good: a week still running (its digest would be
    incomplete and the week marked sent, so the real one never goes), or unsubscribe links that
    point nowhere (no public URL configured)."""
    from pipelines.errors import UserError

    if urlsplit(settings.public_url).hostname in (None, "", "scrutineer.invalid") \
            or (urlsplit(settings.public_url).hostname or "").endswith(".invalid"):
        raise UserError("refusing to send: SCRUTINEER_PUBLIC_URL is not set, so unsubscribe links would "
                        "point nowhere (set it to where `scrutineer unsubscribe-server` is reachable)")
    end = weeks.window(week)[1]
    if not allow_partial and end > (now or datetime.now(timezone.utc)):
        ends = f"{end.astimezone(weeks.LONDON):%a %d %b %Y %H:%M} Europe/London"
        raise UserError(f"refusing to send {week}: the week has not ended yet (ends {ends}; "
                        "--allow-partial sends it anyway)")


def scheduled_week(interval_start: datetime | None, chosen: str | None = None) -> str:
    """The ISO week a digest DAG run sends: the one chosen in a manual run's conf, else the week
    its data interval starts in (noon, clear of midnight in any zone), else, for a manual run
    with no logical date (Airflow 3), the last complete week."""
    if chosen:
        return chosen
    return weeks.week_of(interval_start + timedelta(hours=12)) if interval_start else weeks.last_complete_week()


def run(settings: Settings, week: str | None = None, subscriber: str | None = None, out: Path | None = None,
        send: bool = False, allow_partial: bool = False) -> DigestReport:
    """Build (and optionally write and send) the digest of `week` for each active subscriber.
    A digest with nothing in it is not sent: it is recorded as "skipped", and a later send of the
    same week (once there is something to say) still goes out."""
    from pipelines import mailer
    from pipelines.errors import UserError
    from storage import people

    week = week or weeks.last_complete_week()
    weeks.parse_week(week)
    if send:
        check_send(settings, week, allow_partial)
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
    if send:
        to_send = []
        for d in report.digests:
            if d.empty:
                with write(engine) as conn:
                    people.skip_delivery(conn, d.email, week, message_id(d.email, week), "nothing to send")
                report.outcomes.append(mailer.Outcome(d.email, "skipped-empty", "nothing to send this week"))
            else:
                to_send.append(d)
    if send and to_send:
        cfg = mailer.parse_smtp_url(settings.smtp_url)
        smtp = mailer.connect(cfg)
        try:
            for d in to_send:
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
        write_files(d, root / report.week, follow=False, label="the archive's")
    for d in report.digests:
        _remember_profile(root / report.week, d)
    weeks_built = sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink()), reverse=True)
    items = []
    for folder in weeks_built:
        profiles = _profiles_in(folder)
        links = []
        for f in sorted(folder.glob("*.html")):
            who = f.stem.split("--", 1)[-1]
            label = profiles.get(f.stem, who)  # "vendor: bids@example.org"
            href = f"{html.escape(folder.name)}/{html.escape(f.name)}"
            links.append(f'<li><a href="{href}">{html.escape(label)}</a></li>')
        items.append(f"<li><strong>{html.escape(folder.name)}</strong><ul>{''.join(links)}</ul></li>")
    safefiles.write_files(root, {"index.html": (
        "<!DOCTYPE html><meta charset=utf-8><title>Scrutineer digest archive</title>"
        f"<h1>Scrutineer digest archive</h1><ul>{''.join(items)}</ul>\n").encode()}, label="the archive")
    return root


def _remember_profile(folder: Path, d: Digest) -> None:
    """profiles.tsv beside a week's files: which profile (and address) each archived digest is for."""
    known = _profiles_in(folder)
    known[file_stem(d.email, d.week)] = f"{d.profile}: {d.email}"
    safefiles.write_files(folder, {"profiles.tsv": "".join(f"{k}\t{v}\n" for k, v in sorted(known.items()))
                                   .encode("utf-8")}, follow=False, label="the archive's")


def _profiles_in(folder: Path) -> dict[str, str]:
    path = folder / "profiles.tsv"
    if not path.exists():
        return {}
    return dict(line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines() if "\t" in line)


def _envelope_from(settings: Settings) -> str:
    from email.utils import parseaddr

    return parseaddr(settings.mail_from)[1] or "digest@scrutineer.invalid"
