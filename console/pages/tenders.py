"""Tenders: notices filtered by buyer, CPV prefix, value range, stage and closing date, with
related news stories, the saved searches, and the filtered list as CSV.

Filters are parsed by pipelines.tender_searches (shared with the saved searches and the API)."""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console import auth
from console.web import render, settings_of
from pipelines import tender_searches
from pipelines.tender_searches import STAGES, parse_filters
from storage import console as reads
from storage.db import get_engine, read

router = APIRouter(dependencies=[Depends(auth.page_user)], include_in_schema=False)
PAGE_ROWS = 200  # shown on the page; the CSV carries up to CSV_ROWS
CSV_ROWS = 20_000
CSV_COLUMNS = ("published_at", "buyer", "title", "stage", "value", "currency", "cpv", "tender_deadline", "suppliers",
               "ocid", "url")


def parse(params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Query keyword arguments for storage.console and errors by field (kept for callers of the old name)."""
    filters, errors = parse_filters(params)
    return filters.query(), errors


def _rows(request: Request, limit: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    filters, errors = parse(request.query_params)
    if errors:
        return [], errors
    with read(get_engine(settings_of(request).db)) as conn:
        return reads.console_filter_notices(conn, **filters, limit=limit), errors


def page(request: Request, params: Mapping[str, str], *, search: dict[str, Any] | None = None,
         errors: dict[str, str] | None = None, save: Mapping[str, str] | None = None,
         edit: Mapping[str, str] | None = None, edit_errors: dict[str, str] | None = None,
         status: int = 200) -> Response:
    """The Tenders page for these filter values: the plain page, a saved search opened, or either
    re-rendered with the errors of a refused save or edit beside their fields."""
    settings = settings_of(request)
    filters, parse_errors = parse_filters(params)
    errors = {**parse_errors, **(errors or {})}
    rows: list[dict[str, Any]] = []
    related: list[dict[str, Any]] = []
    if not parse_errors:
        with read(get_engine(settings.db)) as conn:
            rows = reads.console_filter_notices(conn, **filters.query(), limit=PAGE_ROWS + 1)
    more = len(rows) > PAGE_ROWS
    rows = rows[:PAGE_ROWS]
    if rows:
        with read(get_engine(settings.db)) as conn:
            related = reads.buyer_stories(conn, [r["buyer"] or "" for r in rows],
                                          datetime.now(timezone.utc) - timedelta(days=365))
    status = 400 if errors and status == 200 else status
    shown = {k: str(v) for k, v in params.items() if k in tender_searches.FIELDS and v not in (None, "")}
    return render(request, "tenders.html", status=status, rows=rows, errors=errors, params=shown,
                  stages=STAGES, related=related, more=more, query=urlencode(shown),
                  searches=tender_searches.listing(settings, counts=False), search=search, save=save or {},
                  edit=edit if edit is not None else ({**search["params"], "name": search["name"]} if search else {}),
                  edit_errors=edit_errors or {})


@router.get("/tenders")
def index(request: Request) -> Response:
    return page(request, dict(request.query_params))


def _cell(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
    if isinstance(value, datetime):
        text = value.isoformat()
    # Spreadsheet formula injection: a cell starting with = + - @ is read as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/tenders.csv")
def export(request: Request) -> Response:
    rows, errors = _rows(request, CSV_ROWS)
    if errors:
        return Response("; ".join(f"{k}: {v}" for k, v in errors.items()), status_code=400, media_type="text/plain")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in CSV_COLUMNS])
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="tenders.csv"'})
