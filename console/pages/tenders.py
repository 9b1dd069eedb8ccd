"""Tenders: notices filtered by buyer, CPV prefix, value range, stage and closing date, with
related news stories, and the filtered list as CSV."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console import auth
from console.web import render, settings_of
from storage import console as reads
from storage.db import get_engine, read

router = APIRouter(dependencies=[Depends(auth.page_user)], include_in_schema=False)
STAGES = ("planning", "tender", "award", "contract")
PAGE_ROWS = 200  # shown on the page; the CSV carries up to CSV_ROWS
CSV_ROWS = 20_000
CSV_COLUMNS = ("published_at", "buyer", "title", "stage", "value", "currency", "cpv", "tender_deadline", "suppliers",
               "ocid", "url")


def parse(params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    buyer = (params.get("buyer") or "").strip()[:200]
    if buyer:
        out["buyer"] = buyer
    cpv = (params.get("cpv") or "").strip()
    if cpv:
        if cpv.isdigit() and len(cpv) <= 8:
            out["cpv_prefix"] = cpv
        else:
            errors["cpv"] = "digits: a CPV code or its first digits"
    for key, name in (("min_value", "min"), ("max_value", "max")):
        raw = (params.get(name) or "").replace(",", "").strip()
        if raw:
            try:
                out[key] = float(raw)
            except ValueError:
                errors[name] = "a number"
    stage = (params.get("stage") or "").strip()
    if stage:
        if stage in STAGES:
            out["stage"] = stage
        else:
            errors["stage"] = "one of " + ", ".join(STAGES)
    for key, name, shift in (("closing_after", "closing_from", 0), ("closing_before", "closing_to", 1)):
        raw = (params.get(name) or "").strip()
        if raw:
            try:
                out[key] = datetime.combine(date.fromisoformat(raw) + timedelta(days=shift), time(0), timezone.utc)
            except ValueError:
                errors[name] = "a date YYYY-MM-DD"
    return out, errors


def _rows(request: Request, limit: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    filters, errors = parse(request.query_params)
    if errors:
        return [], errors
    with read(get_engine(settings_of(request).db)) as conn:
        return reads.console_filter_notices(conn, **filters, limit=limit), errors


@router.get("/tenders")
def index(request: Request) -> Response:
    rows, errors = _rows(request, PAGE_ROWS + 1)
    more = len(rows) > PAGE_ROWS
    rows = rows[:PAGE_ROWS]
    related: list[dict[str, Any]] = []
    if rows:
        with read(get_engine(settings_of(request).db)) as conn:
            related = reads.buyer_stories(conn, [r["buyer"] or "" for r in rows],
                                          datetime.now(timezone.utc) - timedelta(days=365))
    return render(request, "tenders.html", status=400 if errors else 200, rows=rows, errors=errors,
                  params=dict(request.query_params), stages=STAGES, related=related, more=more,
                  query=request.url.query)


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
