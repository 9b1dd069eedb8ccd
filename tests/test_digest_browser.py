"""Each profile's digest rendered in headless Chromium: key sections visible, nothing fetched.

Chromium sends every request, loopback included, through a counting proxy on loopback, so any
attempt to load a remote resource shows up as a proxy hit (a control test proves the harness
sees one). Screenshots are kept under
the test's temporary directory (printed) for review.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipelines import digest, subscribers

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")


#: Chromium's own background traffic (component updater, clock) goes through the proxy too even
#: with --disable-background-networking; it is the browser's, not the page's, so it is set aside.
BROWSER_INFRASTRUCTURE = (".google.com", ".googleapis.com", ".gvt1.com", ".gstatic.com")


class CountingProxy:
    """Accepts connections, records each request line, answers 502: the page must never need it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def hits(self) -> list[str]:
        """Requests made for the page (anything but the browser's own infrastructure)."""
        def host(line: str) -> str:
            target = line.split(" ")[1] if " " in line else line
            return urlsplit(target if "//" in target else f"//{target}").hostname or ""

        return [r for r in self.requests if not host(r).endswith(BROWSER_INFRASTRUCTURE)]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.requests.append(conn.recv(2048).split(b"\r\n", 1)[0].decode("latin-1"))
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    self.requests.append("(unreadable request)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def _chromium(args: list[str], profile_dir: Path) -> subprocess.CompletedProcess[str]:
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", f"--user-data-dir={profile_dir}", "--window-size=800,2600"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=90)


def _through(proxy: CountingProxy) -> list[str]:
    return [f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>"]


def test_harness_sees_a_remote_image(tmp_path: Path) -> None:
    page = tmp_path / "remote.html"
    page.write_text('<html><body><img src="http://example.com/pixel.png"><p>hi</p></body></html>')
    proxy = CountingProxy()
    try:
        _chromium([*_through(proxy), "--dump-dom", page.as_uri()], tmp_path / "p")
    finally:
        proxy.close()
    assert proxy.hits and "example.com" in proxy.hits[0]


@pytest.mark.parametrize("profile", ["rights", "vendor", "analyst"])
def test_digest_renders_in_chromium_without_network(profile: str, collected: dict[str, Any],
                                                    tmp_path: Path) -> None:
    settings = collected["settings"]
    email = f"{profile}-browser@example.org"
    subscribers.add(settings, email, profile)
    report = digest.run(settings, week="2026-W47", subscriber=email, out=tmp_path)
    page = next(p for p in report.files if p.suffix == ".html")
    proxy = CountingProxy()
    try:
        net = _through(proxy)
        dom = _chromium([*net, "--dump-dom", page.as_uri()], tmp_path / "p1")
        shot = tmp_path / f"{profile}.png"
        _chromium([*net, f"--screenshot={shot}", page.as_uri()], tmp_path / "p2")
    finally:
        proxy.close()
    assert dom.returncode == 0, dom.stderr[-1000:]
    html = dom.stdout
    for section in ("figures", "top-stories", "coverage-statement"):
        assert f'id="{section}"' in html, section
    assert ('id="tender-watch"' in html) == (profile in ("vendor", "analyst"))
    assert ('id="coverage"' in html) == (profile == "analyst")
    assert html.count("<h3") >= 2 and "Unsubscribe" in html
    assert proxy.hits == []
    assert shot.exists() and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def _driver() -> Any:
    """Headless Chromium driven by Debian's chromedriver (no Selenium Manager download), every
    request sent to a proxy on a closed loopback port: an archived page must need no network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.skip("Debian's chromium-driver is not installed (make browser installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=800,2600",
                "--disable-background-networking", f"--proxy-server=http://127.0.0.1:{dead}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver_path), options=options)


def test_archived_pages_show_the_chart_and_read_like_an_editor_wrote_them(sqlite_url: str, tmp_path: Path) -> None:
    """Issue 12: each profile's archived page, opened from disk, loads its chart (naturalWidth > 0);
    no stance quote is or contains its headline; no source slug is shown where an outlet belongs."""
    from tests.digest_week import OUTLETS, WEEK, build

    settings = build(sqlite_url)
    for profile in ("rights", "vendor", "analyst"):
        subscribers.add(settings, f"{profile}@example.org", profile)
    digest.run(settings, week=WEEK)
    root = digest.archive_dir(settings)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    browser = _driver()
    try:
        for profile in ("rights", "vendor", "analyst"):
            page = root / WEEK / f"{digest.file_stem(f'{profile}@example.org', WEEK)}.html"
            browser.get(page.as_uri())
            widths = browser.execute_script(
                "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1)")
            assert widths and all(w > 0 for w in widths), (profile, widths)
            pairs = browser.execute_script(
                "return Array.from(document.querySelectorAll('.story')).flatMap(s => "
                "Array.from(s.querySelectorAll('q.evidence'))"
                ".map(q => [s.querySelector('h3').innerText, q.innerText]))")
            for headline, quote in pairs:
                assert headline.strip() not in quote and quote.strip() != headline.strip(), (headline, quote)
            text = browser.execute_script("return document.body.innerText")
            assert not [slug for slug in OUTLETS if slug in text], profile
            assert "The Harbour Ledger" in text
            shot = shots / f"archived-{profile}.png"
            browser.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
            print(f"screenshot: {shot}")
    finally:
        browser.quit()
    index = (root / "index.html").as_uri()
    assert index  # the index is beside the weeks (its content is checked in test_digest_editorial)
