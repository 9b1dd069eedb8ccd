"""RELIABILITY T37: stored XSS, rendered in Chromium through Selenium.

Articles, tags, stories, sources (with a fetch error), tender notices, saved tender searches and
subscribers are stored with fields carrying <script>, onerror=, javascript: URLs, </textarea> and
RTL overrides, then every console page that shows them is opened in headless Chromium against a real
uvicorn server. Each payload would set `window.__pwned` and fetch from a loopback "evil" server if
it ran; the test asserts the probe stays undefined, the evil server is never hit, no link has a
non-http(s) scheme, the payload text is visibly on the page (so it was rendered, as text), and each
page carries a Content-Security-Policy. A control page served by the evil server itself proves the
harness sees a payload that does run.
"""
from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from console import auth
from console.app import create_app
from console.server import AppServer
from core.settings import Settings
from pipelines import subscribers, tender_searches
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, write
from storage.notices import store_notices
from storage.schema import article_tags, articles, fetch_log, sources, stories

CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists()
                                                else None)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMEDRIVER is None or CHROMIUM is None,
                                reason="Debian's chromium and chromium-driver are not installed (make browser)")
PASSWORD = "correct horse battery"
MARK = "XSSMARK"  # every payload carries it, so the test can see the text was rendered


class Evil:
    """A loopback HTTP server the payloads point at: any request it receives is a failure."""

    def __init__(self) -> None:
        hits = self.hits = []  # type: list[str]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                body = (b"<!doctype html><title>control</title><script>window.__pwned = 1</script>"
                        b"<img src='/control-image'>" if self.path == "/control" else b"")
                self.send_response(200)
                self.send_header("Content-Type", "text/html" if body else "image/gif")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def payloads(evil: str) -> dict[str, str]:
    """Hostile strings, each of which would set the probe and call the evil server if executed."""
    run = f"window.__pwned=1;fetch('{evil}/ran')"
    return {
        "script": f"{MARK}<script>{run}</script>",
        "onerror": f"{MARK}<img src=x onerror=\"{run}\">",
        "svg": f"{MARK}\"><svg onload=\"{run}\">",
        "textarea": f"{MARK}</textarea></title><script>{run}</script>",
        "attr": f"{MARK}' autofocus onfocus='{run}' x='",
        "remote": f"{MARK}<img src=\"{evil}/img\"><link rel=stylesheet href=\"{evil}/css\">",
        "rtl": f"{MARK}\u202e<script>{run}</script>\u202dgpj.exe",
        "js_url": f"javascript:{run}//{MARK}",
        "data_url": f"data:text/html,<script>{run}</script>{MARK}",
    }


def populate(settings: Settings, evil: str) -> dict[str, str]:
    p = payloads(evil)
    now = datetime.now(timezone.utc)
    engine = get_engine(settings.db)
    with write(engine) as conn:
        conn.execute(insert(sources), [
            {"name": "hostile-src", "kind": "rss", "url": p["js_url"], "schedule": "@hourly", "tags": [],
             "options": {}, "status": "active", "created_at": now, "updated_at": now, "failures": 3,
             "outlet": p["textarea"] + p["rtl"]},
            {"name": "hostile-data", "kind": "rss", "url": p["data_url"], "schedule": "@hourly", "tags": [],
             "options": {}, "status": "active", "created_at": now, "updated_at": now, "failures": 0,
             "outlet": p["attr"]}])
        conn.execute(insert(fetch_log), [{"source": "hostile-src", "started_at": now - timedelta(minutes=5),
                                          "finished_at": now - timedelta(minutes=4), "status": "error",
                                          "http_status": 500, "message": p["onerror"] + p["svg"]}])
        store_articles(conn, [
            Article(url=p["js_url"], canonical_url="https://hostile.example/a", source="hostile-src",
                    title=p["script"] + p["rtl"], text=p["onerror"] + "\n\n" + p["textarea"] + "\n\n" + p["remote"],
                    summary=p["svg"], published_at=now - timedelta(hours=2), section=p["attr"],
                    authors=[p["script"]], language="en"),
            Article(url=p["data_url"], canonical_url="https://hostile.example/b", source="hostile-data",
                    title=p["svg"] + " second", text=p["attr"] + " facial recognition", summary="",
                    published_at=now - timedelta(hours=1), language="en")])
        ids = {r.canonical_url: r.id for r in conn.execute(select(articles.c.id, articles.c.canonical_url))}
        first = ids["https://hostile.example/a"]
        conn.execute(insert(stories), [{"id": "hostilestory0000001", "headline": p["script"] + p["textarea"],
                                        "first_seen_at": now, "last_seen_at": now, "article_count": 2,
                                        "thread_id": None}])
        conn.execute(articles.update().values(story_id="hostilestory0000001", relevant=True, relevance=0.9,
                                              sentiment_label="negative"))
        conn.execute(insert(article_tags), [{"article_id": first, "slug": "facial-recognition",
                                             "evidence": p["onerror"] + p["rtl"], "polarity": -0.4}])
        store_notices(conn, [{
            "ocid": "ocds-hostile-1", "release_id": "r1", "source": "hostile-src", "title": p["script"],
            "description": p["textarea"], "buyer": p["onerror"] + " Home Office", "suppliers": [p["svg"]],
            "value": 1000.0, "currency": "GBP", "cpv": ["72000000"], "stage": "tender",
            "published_at": now - timedelta(days=1), "tender_deadline": now + timedelta(days=20),
            "url": p["js_url"], "matched": [p["attr"]]}])
    subscribers.add(settings, "reader+x@example.org", "analyst", name=p["script"] + p["rtl"] + p["attr"])
    search = tender_searches.create(settings, p["script"], {"buyer": p["onerror"]}, "analyst@example.org")
    return {"article": first, "story": "hostilestory0000001", "search": str(search["id"])}


@pytest.fixture()
def evil() -> Iterator[Evil]:
    server = Evil()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _login(driver: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.NAME, "email").send_keys("analyst@example.org")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    assert "/login" not in driver.current_url, driver.page_source[:500]


def test_control_page_that_runs_a_payload_is_seen(browser: Any, evil: Evil) -> None:
    """The harness itself: a page whose script does run sets the probe and hits the evil server."""
    browser.get(evil.base + "/control")
    assert browser.execute_script("return window.__pwned") == 1
    assert "/control-image" in evil.hits


def test_t37_stored_xss_renders_inert(browser: Any, evil: Evil, sqlite_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    settings = Settings(db=sqlite_url, public_url="http://127.0.0.1")
    auth.add_user(settings, "analyst@example.org", "analyst", PASSWORD)
    ids = populate(settings, evil.base)
    httpd = AppServer(create_app(settings)).start()
    pages = ["/articles", "/articles?q=facial+recognition", f"/articles/{ids['article']}", "/sources",
             "/sources/hostile-src", "/sources/hostile-data", "/tenders", "/tenders?buyer=home+office",
             "/subscribers", "/stories",
             f"/stories/{ids['story']}", f"/tenders/searches/{ids['search']}"]
    try:
        _login(browser, httpd.url)
        cookie = browser.get_cookie(auth.COOKIE)["value"]
        shown = 0
        with httpx.Client(base_url=httpd.url, cookies={auth.COOKIE: cookie}, timeout=30) as client:
            for path in pages:
                resp = client.get(path)
                assert resp.status_code == 200, (path, resp.status_code)
                csp = resp.headers.get("content-security-policy", "")
                assert "default-src 'none'" in csp or "script-src" in csp, (path, csp)
                browser.get(httpd.url + path)
                browser.save_screenshot(str(tmp_path / (re.sub(r"\W+", "_", path) + ".png")))
                assert browser.execute_script("return typeof window.__pwned") == "undefined", path
                body = browser.find_element(By.TAG_NAME, "body").text
                if MARK in body:
                    shown += 1
                    assert "<script>" in body or "onerror=" in body or "onload=" in body or "javascript:" in body \
                        or "onfocus=" in body, (path, "the payload should show as text")
                for a in browser.find_elements(By.TAG_NAME, "a"):
                    href = (a.get_attribute("href") or "").strip().lower()
                    assert href == "" or href.startswith(("http://", "https://")), (path, href)
                # Escaping, not only the CSP, must have stopped them: no such element exists at all.
                live = "script:not([src]), [onerror], [onload], [onfocus], [autofocus]"
                assert not browser.find_elements(By.CSS_SELECTOR, live), path
        assert shown >= 6, f"the payloads were shown on only {shown} pages"
        print(f"screenshots in {tmp_path}")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert evil.hits == [], f"the evil server was contacted: {evil.hits}"
