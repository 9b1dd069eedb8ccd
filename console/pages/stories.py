"""Stories: a week's stories, the volume per topic by day over 8 weeks (server-side SVG), threads."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console import auth
from console.svg import line_chart
from console.web import render, settings_of, svg_markup
from core import weeks
from storage import console as reads
from storage.db import get_engine, read

router = APIRouter(prefix="/stories", dependencies=[Depends(auth.page_user)], include_in_schema=False)
TOP_TOPICS = 6


@router.get("")
def index(request: Request) -> Response:
    settings = settings_of(request)
    week = (request.query_params.get("week") or "").strip() or weeks.week_of(datetime.now(timezone.utc))
    try:
        start, end = weeks.window(week)
    except Exception:  # noqa: BLE001
        return render(request, "error.html", status=400, title="Bad week", message="A week looks like 2026-W47.")
    chart_start = end - timedelta(weeks=8)
    with read(get_engine(settings.db)) as conn:
        rows = reads.week_stories(conn, start, end)
        volume = reads.topic_volume(conn, chart_start, end)
    day_list = reads.days((end - timedelta(seconds=1)).date(), 56)
    totals = sorted(volume, key=lambda s: -sum(volume[s].values()))[:TOP_TOPICS]
    series = {slug: [volume[slug].get(d, 0) for d in day_list] for slug in totals}
    chart = svg_markup(line_chart(series, [d.strftime("%d %b") for d in day_list]))
    return render(request, "stories.html", week=week, rows=rows, chart=chart,
                  prev=weeks.previous(week), next=weeks.week_of(end + timedelta(days=1)))


@router.get("/{story_id}")
def detail(request: Request, story_id: str) -> Response:
    with read(get_engine(settings_of(request).db)) as conn:
        members = reads.story_articles(conn, story_id[:40])
        from storage.articles import stories_by_id
        story = stories_by_id(conn, [story_id[:40]]).get(story_id[:40])
        thread = reads.thread_stories(conn, story["thread_id"]) if story and story.get("thread_id") else []
    if story is None:
        return render(request, "error.html", status=404, title="No such story", message="No story has this id.")
    return render(request, "story.html", story=story, members=members, thread=thread)
