"""Saved tender searches (issue 14) against a real uvicorn server on loopback with a real HTTP
client, on SQLite and PostgreSQL: roles (viewers read, analysts manage), CSRF, invalid input
re-rendered beside its field with nothing stored, a saved search finding exactly what the filtered
Tenders page finds (with its counts), and the JSON API round trip."""
from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from console import auth
from console.app import create_app
from console.server import AppServer
from core.settings import Settings
from storage.db import get_engine, read, write
from storage.notices import store_notices
from storage.schema import tender_searches

PASSWORD = "correct horse battery"
NOW = datetime.now(timezone.utc)
OLD = NOW - timedelta(days=30)  # first stored a month ago: not "new"


def _notice(n: int, buyer: str, cpv: str, value: float | None, stage: str, deadline: date | None,
            new: bool) -> dict[str, Any]:
    return {"ocid": f"ocds-test-{n}", "release_id": "r1", "source": "tenders-ocds", "title": f"Notice {n}",
            "description": "", "buyer": buyer, "suppliers": [], "value": value, "currency": "GBP", "cpv": [cpv],
            "stage": stage, "published_at": NOW - timedelta(days=40 - n),
            "tender_deadline": datetime(deadline.year, deadline.month, deadline.day, 12, tzinfo=timezone.utc)
            if deadline else None, "url": f"https://tenders.example/{n}", "matched": [], "new": new}


NOTICES = [
    _notice(1, "Home Office", "72310000", 250_000, "tender", date(2026, 12, 20), new=False),
    _notice(2, "HOME OFFICE Digital", "48000000", 900_000, "tender", date(2027, 1, 15), new=True),
    _notice(3, "Metropolitan Police", "72200000", 120_000, "award", None, new=True),
    _notice(4, "Home Office", "72500000", 50_000, "tender", date(2026, 12, 28), new=True),
    _notice(5, "Leeds City Council", "72000000", None, "planning", None, new=False),
    _notice(6, "Home Office", "72100000", 400_000, "tender", date(2027, 2, 1), new=True),
    _notice(7, "Home Office", "72400000", 300_000, "tender", date(2026, 12, 31), new=False),
]


def _expected(buyer: str = "", cpv: str = "", lo: float | None = None, hi: float | None = None, stage: str = "",
              closing_from: date | None = None, closing_to: date | None = None) -> list[dict[str, Any]]:
    """The filters' meaning, written out independently of the SQL: newest first, as the page lists."""
    out = []
    for n in NOTICES:
        deadline = n["tender_deadline"].date() if n["tender_deadline"] else None
        if buyer and buyer.lower() not in n["buyer"].lower():
            continue
        if cpv and not any(c.startswith(cpv) for c in n["cpv"]):
            continue
        if lo is not None and (n["value"] is None or n["value"] < lo):
            continue
        if hi is not None and (n["value"] is None or n["value"] > hi):
            continue
        if stage and n["stage"] != stage:
            continue
        if closing_from and (deadline is None or deadline < closing_from):
            continue
        if closing_to and (deadline is None or deadline > closing_to):
            continue
        out.append(n)
    return sorted(out, key=lambda n: n["published_at"], reverse=True)


def _serve(url: str) -> Iterator[tuple[Settings, str]]:
    settings = Settings(db=url, public_url="http://127.0.0.1")
    for role in ("viewer", "analyst", "admin"):
        auth.add_user(settings, f"{role}@example.org", role, PASSWORD)
    with write(get_engine(url)) as conn:
        for when in (OLD, NOW - timedelta(hours=1)):
            store_notices(conn, [n for n in NOTICES if n["new"] == (when is not OLD)], now=when)
    httpd = AppServer(create_app(settings)).start()
    try:
        yield settings, httpd.url
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def console(db_url: str) -> Iterator[tuple[Settings, str]]:
    yield from _serve(db_url)


@pytest.fixture()
def console_sqlite(sqlite_url: str) -> Iterator[tuple[Settings, str]]:
    yield from _serve(sqlite_url)


def login(base: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf": token, "next": "/tenders"})
    assert r.status_code == 303, r.text
    return client


def csrf_of(client: httpx.Client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/account").text).group(1)  # type: ignore[union-attr]


def stored(settings: Settings) -> list[dict[str, Any]]:
    with read(get_engine(settings.db)) as conn:
        return [dict(r._mapping) for r in conn.execute(select(tender_searches).order_by(tender_searches.c.id))]


def count(settings: Settings) -> int:
    with read(get_engine(settings.db)) as conn:
        return int(conn.execute(select(func.count()).select_from(tender_searches)).scalar_one())


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """The cells' text of each body row of the table with this id."""
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, f"no table #{table_id}"
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        if not (len(cells) == 1 and "muted" in tr):
            rows.append(cells)
    return rows


def titles(page: str) -> list[str]:
    return [r[2] for r in table_rows(page, "tenders")]


def field_error(page: str, field: str) -> str | None:
    """The error shown right after the form field named `field`, inside its label, if any."""
    m = re.search(rf'<input name="{field}"[^>]*><span class="field-error">([^<]*)</span>', page)
    return html.unescape(m.group(1)) if m else None


def save(client: httpx.Client, name: str, **filters: str) -> httpx.Response:
    return client.post("/tenders/searches", data={"name": name, "csrf": csrf_of(client), **filters})


def saved_id(resp: httpx.Response) -> int:
    assert resp.status_code == 303, resp.text[:2000]
    m = re.fullmatch(r"/tenders/searches/(\d+)", resp.headers["location"])
    assert m, resp.headers["location"]
    return int(m.group(1))


# -- roles -----------------------------------------------------------------------------------------
def test_viewer_cannot_manage_searches_analyst_can(console: tuple[Settings, str]) -> None:
    settings, base = console
    viewer, analyst = login(base, "viewer@example.org"), login(base, "analyst@example.org")
    assert save(viewer, "Viewer's search", buyer="home office").status_code == 403
    assert count(settings) == 0
    assert 'id="save-search"' not in viewer.get("/tenders").text  # no form offered to a viewer
    assert 'id="save-search"' in analyst.get("/tenders").text

    sid = saved_id(save(analyst, "Home Office IT", buyer="home office", cpv="72"))
    before = stored(settings)
    assert [(r["name"], r["buyer"], r["cpv"], r["created_by"]) for r in before] == [
        ("Home Office IT", "home office", "72", "analyst@example.org")]
    for path, form in ((f"/tenders/searches/{sid}/edit", {"name": "Renamed by viewer", "buyer": "leeds"}),
                       (f"/tenders/searches/{sid}/delete", {})):
        assert viewer.post(path, data={**form, "csrf": csrf_of(viewer)}).status_code == 403, path
    assert stored(settings) == before
    # Everyone can open it; only analysts see the edit and delete forms.
    opened = viewer.get(f"/tenders/searches/{sid}")
    assert opened.status_code == 200 and "Home Office IT" in opened.text
    assert 'id="edit-search"' not in opened.text and 'id="delete-search"' not in opened.text
    assert 'id="edit-search"' in analyst.get(f"/tenders/searches/{sid}").text

    r = analyst.post(f"/tenders/searches/{sid}/edit", data={"name": "Home Office software", "buyer": "home office",
                                                             "cpv": "72", "min": "100000", "csrf": csrf_of(analyst)})
    assert saved_id(r) == sid
    after = stored(settings)
    assert [(r["name"], r["min_value"], r["created_at"]) for r in after] == [
        ("Home Office software", 100_000.0, before[0]["created_at"])]
    assert after[0]["updated_at"] >= before[0]["updated_at"]
    admin = login(base, "admin@example.org")  # admin includes analyst
    assert saved_id(save(admin, "Admin's", stage="award")) != sid
    assert analyst.post(f"/tenders/searches/{sid}/delete", data={"csrf": csrf_of(analyst)}).status_code == 303
    assert [r["name"] for r in stored(settings)] == ["Admin's"]
    assert viewer.get(f"/tenders/searches/{sid}").status_code == 404
    assert viewer.get("/tenders/searches/not-a-number").status_code == 404


# -- CSRF ------------------------------------------------------------------------------------------
def test_csrf_is_required(console_sqlite: tuple[Settings, str]) -> None:
    settings, base = console_sqlite
    analyst, other = login(base, "analyst@example.org"), login(base, "admin@example.org")
    form = {"name": "CSRF probe", "buyer": "home office"}
    assert analyst.post("/tenders/searches", data=form).status_code == 403
    assert analyst.post("/tenders/searches", data={**form, "csrf": csrf_of(other)}).status_code == 403
    assert analyst.post("/api/v1/tender-searches", json=form).status_code == 403  # cookie, no header
    assert count(settings) == 0
    sid = saved_id(save(analyst, "Kept", buyer="home office"))
    before = stored(settings)
    assert analyst.post(f"/tenders/searches/{sid}/edit", data={**form, "csrf": "forged"}).status_code == 403
    assert analyst.post(f"/tenders/searches/{sid}/delete", data={}).status_code == 403
    assert analyst.request("DELETE", f"/api/v1/tender-searches/{sid}").status_code == 403
    assert analyst.patch(f"/api/v1/tender-searches/{sid}", json={"name": "x"}).status_code == 403
    assert analyst.get(f"/tenders/searches/{sid}/delete").status_code in (404, 405)  # a GET changes nothing
    assert stored(settings) == before
    # The session's own token in the header lets the same API write through.
    r = analyst.patch(f"/api/v1/tender-searches/{sid}", json={"name": "Renamed"},
                      headers={"X-CSRF-Token": csrf_of(analyst)})
    assert r.status_code == 200 and r.json()["name"] == "Renamed"


# -- invalid input ---------------------------------------------------------------------------------
def test_invalid_input_rerenders_with_the_error_beside_the_field(console: tuple[Settings, str]) -> None:
    settings, base = console
    analyst = login(base, "analyst@example.org")
    sid = saved_id(save(analyst, "Home Office IT", buyer="home office"))
    before = stored(settings)

    r = save(analyst, "home office it", cpv="72")  # the name in use, whatever its case
    assert r.status_code == 400 and field_error(r.text, "name") == "a saved search is already called 'Home Office IT'"
    assert 'value="home office it"' in r.text  # what was typed is kept
    r = save(analyst, "Value range", buyer="police", min="500000", max="100000")
    assert r.status_code == 400 and field_error(r.text, "max") == "must not be below the lower bound"
    assert 'name="min" id="min" size="8" value="500000"' in r.text and field_error(r.text, "min") is None
    assert 'value="police"' in r.text
    r = save(analyst, "Dates", closing_from="2027-01-10", closing_to="2026-12-01")
    assert r.status_code == 400 and "before the first" in (field_error(r.text, "closing_to") or "")
    r = save(analyst, "Bad bits", cpv="72a", min="lots", stage="bidding")
    assert r.status_code == 400
    assert field_error(r.text, "cpv") and field_error(r.text, "min")
    assert re.search(r'<select name="stage"[^>]*>.*?</select><span class="field-error">one of', r.text)
    for bad_name in ("", "   ", "two\nlines", "x" * 201):
        r = save(analyst, bad_name, buyer="leeds")
        assert r.status_code == 400 and field_error(r.text, "name"), repr(bad_name)
    # Editing: the same checks, the errors beside the edit form's fields, the search unchanged.
    saved_id(save(analyst, "Police", buyer="police"))
    r = analyst.post(f"/tenders/searches/{sid}/edit", data={"name": "POLICE", "buyer": "x", "csrf": csrf_of(analyst)})
    assert r.status_code == 400 and "already called" in (field_error(r.text, "name") or "")
    r = analyst.post(f"/tenders/searches/{sid}/edit", data={"name": "Home Office IT", "min": "9", "max": "1",
                                                             "csrf": csrf_of(analyst)})
    assert r.status_code == 400
    assert re.search(r'<input name="max" id="edit-max"[^>]*><span class="field-error">must not be below', r.text)
    assert [s for s in stored(settings) if s["id"] == sid] == before
    assert count(settings) == 2
    # Renaming to its own name in another case is allowed: it is the same search.
    r = analyst.post(f"/tenders/searches/{sid}/edit", data={"name": "HOME OFFICE IT", "buyer": "home office",
                                                             "csrf": csrf_of(analyst)})
    assert saved_id(r) == sid and stored(settings)[0]["name"] == "HOME OFFICE IT"


# -- a saved search applies its filters -------------------------------------------------------------
CASES: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({"buyer": "home office", "cpv": "72"}, {"buyer": "home office", "cpv": "72"}),
    ({"min": "100000", "max": "400000", "stage": "tender"}, {"lo": 100_000, "hi": 400_000, "stage": "tender"}),
    ({"buyer": "Home", "closing_from": "2026-12-20", "closing_to": "2026-12-31"},
     {"buyer": "Home", "closing_from": date(2026, 12, 20), "closing_to": date(2026, 12, 31)}),
    ({"cpv": "7"}, {"cpv": "7"}),
    ({}, {}),
]


def test_a_saved_search_applies_its_filters(console: tuple[Settings, str]) -> None:
    settings, base = console
    analyst, viewer = login(base, "analyst@example.org"), login(base, "viewer@example.org")
    ids = []
    for i, (params, meaning) in enumerate(CASES):
        expected = _expected(**meaning)
        assert 0 < len(expected), params
        filtered = viewer.get("/tenders", params=params)
        assert filtered.status_code == 200 and titles(filtered.text) == [n["title"] for n in expected]
        sid = saved_id(save(analyst, f"Search {i}", **params))
        ids.append(sid)
        opened = viewer.get(f"/tenders/searches/{sid}")
        assert opened.status_code == 200
        assert titles(opened.text) == titles(filtered.text), params
        new = sum(1 for n in expected if n["new"])
        assert re.search(rf'id="search-matching">{len(expected)}<.*id="search-new">{new}<', opened.text, re.S), params
        # Its filters are in the filter form and in the CSV link, so both carry on from it.
        for k, v in params.items():
            shown = f"<option selected>{v}</option>" if k == "stage" else f'name="{k}" id="{k}" '
            assert shown in opened.text and (k == "stage" or f'value="{v}"' in opened.text), (k, v)
        csv_link = html.unescape(re.search(r'href="(/tenders\.csv\?[^"]*)"', opened.text).group(1))  # type: ignore[union-attr]
        csv = viewer.get(csv_link).text.splitlines()
        assert len(csv) == len(expected) + 1
    # The lists: by name on the Tenders page, with the counts on their own page, to everyone.
    on_tenders = table_rows(viewer.get("/tenders").text, "saved-searches")
    assert [r[0] for r in on_tenders] == [f"Search {i}" for i in range(len(CASES))]
    assert on_tenders[0][1] == "buyer: home office; cpv: 72" and on_tenders[-1][1] == "all notices"
    listed = {r[0]: r for r in table_rows(viewer.get("/tenders/searches").text, "saved-searches")}
    for i, (_, meaning) in enumerate(CASES):
        expected = _expected(**meaning)
        assert listed[f"Search {i}"][2:4] == [str(len(expected)), str(sum(1 for n in expected if n["new"]))]
    assert len(ids) == len(set(ids)) == count(settings)


# -- the JSON API ----------------------------------------------------------------------------------
def test_api_round_trip(console: tuple[Settings, str]) -> None:
    settings, base = console
    token = auth.new_token(settings, "analyst@example.org")
    viewer_token = auth.new_token(settings, "viewer@example.org")
    api = httpx.Client(base_url=base + "/api/v1", timeout=30, headers={"Authorization": f"Bearer {token}"})
    as_viewer = httpx.Client(base_url=base + "/api/v1", timeout=30,
                             headers={"Authorization": f"Bearer {viewer_token}"})
    anonymous = httpx.Client(base_url=base + "/api/v1", timeout=30)

    body = {"name": "Software for the Home Office", "buyer": "home office", "cpv": "72", "min": 60000}
    assert as_viewer.post("/tender-searches", json=body).status_code == 403
    assert anonymous.post("/tender-searches", json=body).status_code == 401
    r = api.post("/tender-searches", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    sid = created["id"]
    expected = _expected(buyer="home office", cpv="72", lo=60000)
    assert created["filters"] == {"buyer": "home office", "cpv": "72", "min": 60000.0, "max": None, "stage": None,
                                  "closing_from": None, "closing_to": None}
    assert (created["matching"], created["new"]) == (len(expected), sum(1 for n in expected if n["new"]))
    assert created["created_by"] == "analyst@example.org"

    # Invalid input: 400 with the field, nothing stored.
    for bad, field in (({**body, "name": "SOFTWARE for the home office"}, "name"),
                       ({"name": "r", "min": 5, "max": 1}, "max"), ({"name": "c", "cpv": "IT"}, "cpv"),
                       ({"name": "d", "closing_to": "31/12/2026"}, "closing_to"),
                       ({"buyer": "no name"}, "name")):
        r = api.post("/tender-searches", json=bad)
        assert r.status_code == 400 and field in r.json()["detail"], (bad, r.text)
    assert count(settings) == 1

    # Reads: anyone logged in; one search carries the notices /api/v1/tenders gives for its filters.
    listing = as_viewer.get("/tender-searches").json()
    assert [(s["id"], s["name"], s["matching"]) for s in listing] == [(sid, body["name"], len(expected))]
    one = as_viewer.get(f"/tender-searches/{sid}").json()
    direct = as_viewer.get("/tenders", params={k: v for k, v in one["filters"].items() if v is not None}).json()
    assert [n["id"] for n in one["notices"]] == [n["id"] for n in direct]
    assert [n["title"] for n in one["notices"]] == [n["title"] for n in expected]
    assert len(as_viewer.get(f"/tender-searches/{sid}", params={"limit": 1}).json()["notices"]) == 1
    assert as_viewer.get("/tender-searches/999999").status_code == 404

    # PATCH changes only what is sent (null clears a filter); PUT replaces the lot.
    for method, path, payload in (("PATCH", f"/tender-searches/{sid}", {"name": "x"}),
                                  ("PUT", f"/tender-searches/{sid}", {"name": "x"}),
                                  ("DELETE", f"/tender-searches/{sid}", None)):
        assert as_viewer.request(method, path, json=payload).status_code == 403, method
    r = api.patch(f"/tender-searches/{sid}", json={"name": "Home Office, big", "min": 200000, "cpv": None})
    assert r.status_code == 200, r.text
    assert r.json()["filters"] == {**created["filters"], "min": 200000.0, "cpv": None}
    assert r.json()["matching"] == len(_expected(buyer="home office", lo=200000))
    assert api.patch(f"/tender-searches/{sid}", json={"max": 1}).status_code == 400  # below min: refused
    r = api.put(f"/tender-searches/{sid}", json={"name": "Awards", "stage": "award"})
    assert r.status_code == 200
    assert r.json()["filters"] == {"buyer": None, "cpv": None, "min": None, "max": None, "stage": "award",
                                   "closing_from": None, "closing_to": None}
    assert [(s["name"], s["stage"], s["buyer"]) for s in stored(settings)] == [("Awards", "award", None)]
    assert api.put("/tender-searches/999999", json={"name": "Nobody"}).status_code == 404

    # The page shows what the API saved.
    page = login(base, "viewer@example.org").get(f"/tenders/searches/{sid}")
    assert "Awards" in page.text and titles(page.text) == [n["title"] for n in _expected(stage="award")]

    assert api.delete(f"/tender-searches/{sid}").json() == {"id": sid, "deleted": True}
    assert api.delete(f"/tender-searches/{sid}").status_code == 404
    assert api.get(f"/tender-searches/{sid}").status_code == 404 and count(settings) == 0

    # Documented: the OpenAPI document and the plain API page list every operation.
    spec = api.get("/openapi.json").json()
    assert set(spec["paths"]["/api/v1/tender-searches"]) == {"get", "post"}
    assert set(spec["paths"]["/api/v1/tender-searches/{search_id}"]) == {"get", "put", "patch", "delete"}
    docs = login(base, "viewer@example.org").get("/api/docs").text
    assert docs.count("/api/v1/tender-searches") >= 6


def test_new_routes_are_enumerated_and_guarded(console_sqlite: tuple[Settings, str]) -> None:
    """The route enumeration of tests/test_console_security.py sees the new routes (so T35 covers them)."""
    settings, base = console_sqlite
    routes = {(m, r.path) for r in create_app(settings).routes for m in getattr(r, "methods", None) or []}
    new = {("GET", "/tenders/searches"), ("GET", "/tenders/searches/{search_id}"), ("POST", "/tenders/searches"),
           ("POST", "/tenders/searches/{search_id}/edit"), ("POST", "/tenders/searches/{search_id}/delete"),
           ("GET", "/api/v1/tender-searches"), ("POST", "/api/v1/tender-searches"),
           ("GET", "/api/v1/tender-searches/{search_id}"), ("PUT", "/api/v1/tender-searches/{search_id}"),
           ("PATCH", "/api/v1/tender-searches/{search_id}"), ("DELETE", "/api/v1/tender-searches/{search_id}")}
    assert new <= routes
    with httpx.Client(base_url=base, timeout=30) as anonymous:
        for method, path in sorted(new):
            r = anonymous.request(method, path.replace("{search_id}", "1"))
            assert r.status_code == (401 if path.startswith("/api/") else 303), (method, path, r.status_code)
