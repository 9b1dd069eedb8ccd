"""The console in Debian's Chromium through Selenium and Debian's chromedriver (headless):
log in, add a source from the demo newsroom and see its preview, search a phrase and open an
article, filter tenders by buyer and download the CSV, preview a digest; and T37: articles,
notices and subscribers carrying <script>, onerror= and javascript: render inert.

Screenshots are kept in $SCRUTINEER_SCREENSHOTS (default: the test's temporary directory).
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from console import auth
from console.app import create_app
from console.server import AppServer
from core.settings import Settings
from pipelines import subscribers
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, write
from storage.notices import store_notices

CHROMEDRIVER = shutil.which("chromedriver") or shutil.which("chromedriver", path="/usr/bin:/usr/lib/chromium")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMEDRIVER is None or CHROMIUM is None,
                                reason="Debian's chromium and chromium-driver are not installed (make browser)")
PASSWORD = "correct horse battery"
PROBE = "window.__pwned"
HOSTILE = ('<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
           '</textarea><svg onload="window.__pwned=3"> \u202egnp.exe')


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import demo as demo_run

    out = tmp_path_factory.mktemp("console-demo")
    saved = os.environ.get("SCRUTINEER_ALLOW_PRIVATE_NETWORKS")
    demo_run.run(out)
    os.environ["SCRUTINEER_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.1/32"  # the preview below crawls the demo too
    settings = Settings(db=f"sqlite:///{out / 'scrutineer.sqlite'}", public_url="http://127.0.0.1",
                        allow_private_networks="127.0.0.1/32")
    auth.add_user(settings, "analyst@example.org", "analyst", PASSWORD)
    when = datetime(2026, 11, 18, 10, 0, tzinfo=timezone.utc)
    with write(get_engine(settings.db)) as conn:
        store_articles(conn, [Article(url="javascript:window.__pwned=4//", canonical_url="https://evil.example/x",
                                      source="nene-courier-atom", title="Hostile " + HOSTILE, text=HOSTILE * 3,
                                      published_at=when)])
        store_notices(conn, [{"ocid": "ocds-evil-1", "release_id": "r1", "source": "tenders-ocds",
                              "title": "Hostile notice " + HOSTILE, "description": HOSTILE, "buyer": "Evil " + HOSTILE,
                              "suppliers": [], "value": 1.0, "currency": "GBP", "cpv": ["72000000"],
                              "stage": "tender", "published_at": when, "tender_deadline": None,
                              "url": "javascript:window.__pwned=5//", "matched": []}])
    subscribers.add(settings, "hostile@example.org", "analyst", name="Eve <img src=x onerror=window.__pwned=6>")
    httpd = AppServer(create_app(settings)).start()
    shots = Path(os.environ.get("SCRUTINEER_SCREENSHOTS") or out / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield {"settings": settings, "url": httpd.url, "shots": shots, "out": out}
    finally:
        httpd.shutdown()
        httpd.server_close()
        if saved is None:
            os.environ.pop("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", None)
        else:
            os.environ["SCRUTINEER_ALLOW_PRIVATE_NETWORKS"] = saved
        print(f"screenshots: {shots}")


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1600",
                f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(120)
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


def _login(driver: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/articles")
    assert "/login" in driver.current_url  # sent to log in first
    driver.find_element(By.ID, "email").send_keys("analyst@example.org")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "login").click()
    # The click returns before the form's POST and redirect finish: wait (bounded) for the redirect.
    WebDriverWait(driver, 15).until(lambda d: d.current_url.endswith("/articles"))
    assert driver.current_url.endswith("/articles")


def _probe_clean(driver: Any) -> None:
    assert driver.execute_script(f"return typeof {PROBE}") == "undefined"


def test_console_journeys_in_chromium(demo: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC  # noqa: N812 - Selenium's own idiom
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from demo.newsroom import Newsroom

    base, shots = demo["url"], demo["shots"]
    _login(browser, base)
    browser.save_screenshot(str(shots / "01-articles.png"))

    # Add a source from the demo newsroom and see its dry-run preview.
    with Newsroom() as newsroom:
        feed = next(s for s in newsroom.sources() if s["kind"] == "rss")
        browser.get(base + "/sources")
        browser.find_element(By.ID, "source-name").send_keys("browser-added")
        Select(browser.find_element(By.ID, "source-kind")).select_by_visible_text("rss")
        browser.find_element(By.ID, "source-url").send_keys(feed["url"])
        browser.find_element(By.ID, "preview-source").click()
        WebDriverWait(browser, 180).until(EC.url_contains("/preview"))  # the dry run takes seconds
        main_text = browser.find_element(By.TAG_NAME, "main").text[:1500]
        assert "/sources/browser-added/preview" in browser.current_url, main_text
        rows = browser.find_elements(By.CSS_SELECTOR, "#preview tbody tr")
        browser.save_screenshot(str(shots / "02-source-preview.png"))
        # Items this database already holds are not stored again, so the preview lists what is new.
        assert len(rows) >= 1, browser.find_element(By.TAG_NAME, "main").text[:2000]
        assert rows[0].find_elements(By.TAG_NAME, "td")[0].text.strip()  # a headline
        assert "items would be stored" in browser.find_element(By.ID, "preview-count").text
        browser.find_element(By.ID, "accept-source").click()
        WebDriverWait(browser, 60).until(EC.url_matches(r"/sources$"))
        row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#sources tbody tr") if "browser-added" in r.text)
        assert "active" in row.text and row.find_elements(By.CSS_SELECTOR, "svg.spark")
        browser.save_screenshot(str(shots / "02b-sources.png"))

    # Search a phrase and open an article.
    browser.get(base + "/articles")
    box = browser.find_element(By.ID, "q")
    box.send_keys('"facial recognition"')
    browser.find_element(By.ID, "search-button").click()
    WebDriverWait(browser, 60).until(EC.url_contains("q="))  # the results page, not the form's
    links = browser.find_elements(By.CSS_SELECTOR, "#results a.article-link")
    assert links, "the phrase matches demo articles"
    browser.save_screenshot(str(shots / "03-search.png"))
    title = links[0].text
    links[0].click()
    WebDriverWait(browser, 60).until(EC.presence_of_element_located((By.ID, "article-title")))
    assert browser.find_element(By.ID, "article-title").text == title
    assert "facial recognition" in browser.find_element(By.ID, "article-text").text.lower() + title.lower()
    browser.save_screenshot(str(shots / "04-article.png"))

    # Filter tenders by buyer and download the CSV.
    browser.get(base + "/tenders")
    browser.find_element(By.ID, "buyer").send_keys("Metropolitan")
    browser.find_element(By.ID, "filter-tenders").click()
    WebDriverWait(browser, 60).until(EC.url_contains("buyer="))
    rows = browser.find_elements(By.CSS_SELECTOR, "#tenders tbody tr")
    assert rows and all("Metropolitan" in r.text for r in rows)
    browser.save_screenshot(str(shots / "05-tenders.png"))
    browser.find_element(By.ID, "tenders-csv").click()
    target = browser.downloads / "tenders.csv"
    for _ in range(100):
        if target.exists() and target.stat().st_size:
            break
        time.sleep(0.1)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("published_at,buyer") and len(lines) == len(rows) + 1
    assert all("Metropolitan" in line for line in lines[1:])

    # Preview a digest.
    browser.get(base + "/digests")
    browser.find_element(By.ID, "digest-week").clear()
    browser.find_element(By.ID, "digest-week").send_keys("2026-W47")
    Select(browser.find_element(By.ID, "digest-profile")).select_by_visible_text("vendor")
    browser.find_element(By.ID, "preview-digest").click()
    WebDriverWait(browser, 60).until(EC.url_contains("week="))  # the preview page, not the form's
    frame = WebDriverWait(browser, 60).until(EC.presence_of_element_located((By.ID, "digest-preview")))
    browser.switch_to.frame(frame)
    assert browser.find_elements(By.ID, "top-stories"), browser.page_source[:500]
    browser.switch_to.default_content()
    browser.save_screenshot(str(shots / "06-digest.png"))


def test_t37_stored_xss_renders_inert(demo: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base, shots = demo["url"], demo["shots"]
    _login(browser, base)
    browser.get(base + "/articles?q=hostile")
    assert "Hostile <script>" in browser.find_element(By.ID, "results").text  # shown as text
    _probe_clean(browser)
    browser.find_element(By.CSS_SELECTOR, "#results a.article-link").click()
    _probe_clean(browser)
    assert "<svg onload=" in browser.find_element(By.ID, "article-text").text
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.TAG_NAME, "a")]
    assert not any(h.lower().startswith("javascript:") for h in hrefs)
    browser.save_screenshot(str(shots / "07-hostile-article.png"))
    for path in ("/tenders?buyer=evil", "/subscribers", "/stories", "/sources"):
        browser.get(base + path)
        _probe_clean(browser)
        hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.TAG_NAME, "a")]
        assert not any(h.lower().startswith("javascript:") for h in hrefs), path
    browser.get(base + "/tenders?buyer=evil")
    assert "Hostile notice <script>" in browser.find_element(By.ID, "tenders").text
    browser.save_screenshot(str(shots / "08-hostile-tender.png"))
