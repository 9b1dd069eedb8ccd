"""Articles: full-text search with filters, and one article's page (text, tags with evidence,
stance per entity, duplicates, story, provenance)."""
from __future__ import annotations

import gzip
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console import auth
from console.web import render, settings_of
from core import weeks
from core.settings import Settings
from storage import search as store
from storage.db import get_engine, read
from storage.sources import outlet_names

_facets: dict[str, tuple[float, dict[str, list[str]]]] = {}
FACETS_TTL_S = 60.0


def facets(settings: Settings, conn: Any) -> dict[str, list[str]]:
    """The filter menus' values, cached a minute per process: reading them scans whole tables."""
    import time

    now = time.monotonic()
    hit = _facets.get(settings.db)
    if hit is None or now - hit[0] > FACETS_TTL_S:
        hit = (now, store.facets(conn))
        _facets[settings.db] = hit
    return hit[1]


router = APIRouter(prefix="/articles", dependencies=[Depends(auth.page_user)], include_in_schema=False)
PAGE = 50
TONES = ("positive", "neutral", "negative")


def parse_filters(settings: Settings, params: Any) -> tuple[store.Filters, dict[str, str]]:
    """Filters from query parameters, with a message per field that could not be understood."""
    f = store.Filters()
    errors: dict[str, str] = {}
    week = (params.get("week") or "").strip()
    if week:
        try:
            f.start, f.end = weeks.window(week)
        except Exception:  # noqa: BLE001 - any malformed week is the same mistake to the user
            errors["week"] = "an ISO week like 2026-W47"
    f.tag = (params.get("tag") or "").strip() or None
    f.language = (params.get("language") or "").strip() or None
    tone = (params.get("tone") or "").strip()
    if tone:
        if tone in TONES:
            f.tone = tone
        else:
            errors["tone"] = "positive, neutral or negative"
    rel = (params.get("relevance") or "").strip()
    if rel:
        try:
            f.min_relevance = float(rel)
            if not 0 <= f.min_relevance <= 1:
                raise ValueError
        except ValueError:
            errors["relevance"] = "a number from 0 to 1"
    src = (params.get("source") or "").strip()
    if src:
        with read(get_engine(settings.db)) as conn:
            f.sources = store.sources_of_outlet(conn, src)
    return f, errors


@router.get("")
def index(request: Request) -> Response:
    settings = settings_of(request)
    params = request.query_params
    q = (params.get("q") or "")[:500]
    try:
        page = max(1, min(int(params.get("page") or 1), 1000))
    except ValueError:
        page = 1
    filters, errors = parse_filters(settings, params)
    rows: list[dict[str, Any]] = []
    with read(get_engine(settings.db)) as conn:
        menus = facets(settings, conn)
        outlets = outlet_names(conn)
        if not errors:
            try:
                rows = store.search(conn, q, filters, limit=PAGE + 1, offset=(page - 1) * PAGE)
            except store.QueryError as exc:
                errors["q"] = str(exc)
    more = len(rows) > PAGE
    for r in rows:
        r["outlet"] = outlets.get(r["source"], r["source"])
    status = 400 if errors else 200
    return render(request, "articles.html", status=status, rows=rows[:PAGE], more=more, page=page, q=q,
                  params=dict(params), errors=errors, facets=menus,
                  outlet_choices=sorted(set(outlets.values())), tones=TONES)


@router.get("/{article_id}")
def detail(request: Request, article_id: str) -> Response:
    settings = settings_of(request)
    with read(get_engine(settings.db)) as conn:
        art = store.article_detail(conn, article_id[:40])
        outlets = outlet_names(conn)
    if art is None:
        return render(request, "error.html", status=404, title="No such article", message="No article has this id.")
    art["outlet"] = outlets.get(art["source"], art["source"])
    from pipelines import tone
    for t in art["tags"]:
        t["tone"] = tone.label_for(t["polarity"]) if t.get("polarity") is not None else None
    return render(request, "article.html", art=art)


@router.get("/{article_id}/versions/{version}/raw")
def raw(request: Request, article_id: str, version: int) -> Response:
    """The raw snapshot as fetched, served as plain text (never rendered as a page)."""
    with read(get_engine(settings_of(request).db)) as conn:
        blob = store.raw_snapshot(conn, article_id[:40], version)
    if blob is None:
        return render(request, "error.html", status=404, title="No snapshot", message="No raw snapshot was kept.")
    try:
        body = gzip.decompress(blob)[:5_000_000]
    except OSError:
        body = b"(the stored snapshot could not be decompressed)"
    return Response(body, media_type="text/plain; charset=utf-8",
                    headers={"Content-Disposition": "inline", "X-Content-Type-Options": "nosniff"})
