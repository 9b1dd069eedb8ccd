"""Sources: the health table, add with a dry-run preview, edit schedule and outlet, pause,
resume, remove, and import a sources YAML file with the CLI's per-entry errors."""
from __future__ import annotations

import json
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from console import auth
from console.svg import sparkline
from console.web import redirect, render, settings_of, svg_markup
from core import schedules
from core.settings import Settings
from pipelines import collect
from pipelines import sources as registry
from pipelines.errors import UserError
from storage import console as reads
from storage.db import get_engine, read, write
from storage.sources import outlet_names

router = APIRouter(prefix="/sources", dependencies=[Depends(auth.page_user)], include_in_schema=False)
analyst = [Depends(auth.require("analyst"))]
PREVIEW_ITEMS = 50


def health_rows(settings: Settings) -> list[dict[str, Any]]:
    rows = registry.listing(settings)
    now = datetime.now(timezone.utc)
    with read(get_engine(settings.db)) as conn:
        per_day = reads.daily_counts(conn, now - timedelta(days=7))
        outlets = outlet_names(conn)
    week = reads.days(now.date(), 7)
    for r in rows:
        counts = [per_day.get(r["name"], {}).get(d, 0) for d in week]
        r["spark"] = svg_markup(sparkline(counts))
        r["outlet"] = outlets.get(r["name"], r["name"])
    return rows


def preview(settings: Settings, name: str) -> tuple[list[dict[str, Any]], str | None]:
    """`sources test`'s dry run (the crawl process prints what it would store), captured."""
    src = registry.get(settings, name)
    cmd = collect.crawl_command(src["kind"], name, dry_run=True)
    try:
        proc = subprocess.run(cmd, env=collect.crawl_env(settings),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=settings.crawl_timeout_s,
                              start_new_session=True)
    except subprocess.TimeoutExpired:
        return [], f"the dry run timed out after {settings.crawl_timeout_s:.0f} s"
    items = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            items.append(item)
    _score(settings, items)
    err = proc.stderr.decode("utf-8", "replace").strip()
    problem = None if proc.returncode == 0 else (err.splitlines()[-1] if err else f"exit {proc.returncode}")
    return items[:PREVIEW_ITEMS], problem


def _score(settings: Settings, items: list[dict[str, Any]]) -> None:
    """Tags, relevance and tone exactly as `process` would give them (pipelines.enrich)."""
    from pipelines.enrich import enrich_one

    for item in items[:PREVIEW_ITEMS]:
        row = {"id": item.get("canonical_url", ""), "title": item.get("title") or "", "text": item.get("text") or "",
               "summary": item.get("summary") or "", "language": item.get("language"),
               "extraction": item.get("extraction") or ""}
        try:
            res = enrich_one(row, settings)
        except Exception as exc:  # noqa: BLE001 - the preview still shows headlines and dates
            item["preview_problem"] = f"not scored: {type(exc).__name__}"
            continue
        item["preview_tags"] = [t["slug"] for t in res["tags"]]
        item["preview_relevance"] = res["relevance"]
        item["preview_relevant"] = res["relevant"]
        item["preview_reason"] = res["relevance_reason"]
        item["preview_tone"] = res["sentiment_label"]
        item["preview_flag"] = res["sentiment_flag"]


@router.get("")
def index(request: Request) -> Response:
    return render(request, "sources.html", rows=health_rows(settings_of(request)), form={}, errors={})


@router.post("/add", dependencies=analyst)
def add(request: Request, name: str = Form(""), kind: str = Form("rss"), url: str = Form(""),
        schedule: str = Form("@hourly")) -> Response:
    settings = settings_of(request)
    raw = {"name": name.strip(), "kind": kind, "url": url.strip(), "schedule": schedule.strip() or "@hourly"}
    try:
        row = registry.validate(dict(raw), f"'{name[:64]}'")
    except registry.Invalid as exc:
        return render(request, "sources.html", status=400, rows=health_rows(settings), form=raw,
                      errors={exc.field: exc.problem})
    with read(get_engine(settings.db)) as conn:
        from storage.sources import get_source
        existing = get_source(conn, row["name"])
    if existing is not None and existing["status"] != "removed":
        return render(request, "sources.html", status=400, rows=health_rows(settings), form=raw,
                      errors={"name": "a source with this name exists"})
    with write(get_engine(settings.db)) as conn:
        from storage.sources import save_source, set_status
        save_source(conn, row)
        set_status(conn, row["name"], "paused")  # collected only once the analyst accepts the preview
    return redirect(f"/sources/{row['name']}/preview")


@router.get("/{name}/preview")
def show_preview(request: Request, name: str) -> Response:
    settings = settings_of(request)
    try:
        items, problem = preview(settings, name)
    except UserError as exc:
        return render(request, "error.html", status=404, title="No such source", message=str(exc))
    return render(request, "source_preview.html", name=name, items=items, problem=problem,
                  source=registry.get(settings, name))


@router.get("/{name}")
def edit_form(request: Request, name: str) -> Response:
    settings = settings_of(request)
    try:
        src = registry.get(settings, name)
    except UserError as exc:
        return render(request, "error.html", status=404, title="No such source", message=str(exc))
    return render(request, "source_edit.html", source=src, errors={}, form={"schedule": src["schedule"],
                                                                          "outlet": src.get("outlet") or ""})


@router.post("/{name}/edit", dependencies=analyst)
def edit(request: Request, name: str, schedule: str = Form(""), outlet: str = Form("", max_length=200)) -> Response:
    settings = settings_of(request)
    try:
        src = registry.get(settings, name)
    except UserError as exc:
        return render(request, "error.html", status=404, title="No such source", message=str(exc))
    errors = {}
    why = schedules.problem(schedule)
    if why:
        errors["schedule"] = why
    if any(c in outlet for c in "\r\n\x00"):
        errors["outlet"] = "one line of text"
    if errors:
        return render(request, "source_edit.html", status=400, source=src, errors=errors,
                      form={"schedule": schedule, "outlet": outlet})
    with write(get_engine(settings.db)) as conn:
        reads.edit_source(conn, name, schedule.strip(), outlet.strip() or None)
    return redirect("/sources")


def _status_route(verb: str, status: str) -> None:
    @router.post(f"/{{name}}/{verb}", dependencies=analyst, name=f"source_{verb}")
    def change(request: Request, name: str) -> Response:
        try:
            registry.set_status(settings_of(request), name, status)
        except UserError as exc:
            return render(request, "error.html", status=404, title="No such source", message=str(exc))
        return redirect("/sources")


for _verb, _status in (("pause", "paused"), ("resume", "active"), ("remove", "removed")):
    _status_route(_verb, _status)


@router.post("/import", dependencies=analyst)
async def import_yaml(request: Request, file: UploadFile) -> Response:
    data = await file.read(registry.MAX_FILE_BYTES + 1)
    settings = settings_of(request)

    def run() -> tuple[dict[str, str], list[str]]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sources.yaml"
            path.write_bytes(data)
            try:
                outcome, errors = registry.import_file(settings, path)
            except UserError as exc:
                return {}, [str(exc).replace(str(path), file.filename or "upload")]
        return outcome, [str(e) for e in errors]

    outcome, errors = await run_in_threadpool(run)
    return render(request, "source_import.html", status=200 if not errors else 400, outcome=outcome, errors=errors)
