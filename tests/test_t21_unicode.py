"""RELIABILITY T21: Unicode tricks in feed and page text.

NFC against NFD "Café" (two outlets, one report), full-width "Ｍｅｔ Ｐｏｌｉｃｅ", a zero-width space
inside "Pala\u200bntir", NBSP, a U+202E right-to-left override in titles, and NUL, vertical tab
and a lone surrogate (as a character reference) in feed text. Stored text is NFC without control
or bidi characters, the two forms hash alike and deduplicate, tagging sees through the disguises,
the digest Subject and HTML carry no override, and the export is valid JSON.
"""
from __future__ import annotations

import email
import json
import subprocess
import sys
import unicodedata
from email import policy
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from core.settings import Settings
from pipelines import digest, sources, subscribers
from storage.article import content_hash, normalise_text, title_key

CLI = [sys.executable, "-m", "scrutineer.cli"]
WEEK = "2026-W47"
RLO, PDF = "\u202e", "\u202c"
BIDI = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F]}

CAFE_TITLE = f"Café owners question Met Police facial recognition {RLO}vans{PDF} outside the station"
CAFE_TEXT = ("Café owners on the high street told the Metropolitan Police that live facial recognition vans "
             "parked outside the station were driving customers away. Officers said the cameras had led to "
             "three arrests in a week. The café association wants the force to publish where the vans will go "
             "next, and civil liberties campaigners said the police should stop using the technology altogether.")
PALANTIR_TITLE = f"Ｍｅｔ Ｐｏｌｉｃｅ extends Pala\u200bntir pilot{RLO} as MOPAC\u00a0reruns £50m tender"
PALANTIR_TEXT = ("The Ｍｅｔ Ｐｏｌｉｃｅ will keep the Pala\u200bntir data platform for another twelve months while "
                 "the Mayor's Office for Policing and Crime runs a new, open procurement.\u00a0MOPAC blocked the "
                 "£50m contract over a clear and serious breach of procurement rules. Pala\u200bntir said it may "
                 "challenge the decision in court, and rival vendors are expected to bid for the police contract.")


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _item(title: str, text: str, guid: str, minute: int) -> str:
    return (f"<item><title>{title}</title><guid isPermaLink='false'>{guid}</guid>"
            f"<pubDate>Wed, 18 Nov 2026 09:{minute:02d}:00 +0000</pubDate><description>{text}</description></item>")


def _feed(*items: str) -> bytes:
    return ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>"
            + "".join(items) + "</channel></rss>").encode("utf-8")


def test_t21_nfc_and_nfd_hash_alike_and_controls_go() -> None:
    assert unicodedata.normalize("NFC", CAFE_TEXT) == CAFE_TEXT and nfd(CAFE_TEXT) != CAFE_TEXT
    assert content_hash(CAFE_TEXT) == content_hash(nfd(CAFE_TEXT))
    assert title_key(CAFE_TITLE) == title_key(nfd(CAFE_TITLE))
    dirty = "Met\x00 Police\x0b said \ud800 it\u200b would\u00a0act \u202eevil\u202c."
    assert normalise_text(dirty) == "Met Police said it would act evil."


@pytest.mark.timeout(150)
def test_t21_unicode_through_collect_process_digest_export(tmp_path: Path, sqlite_url: str,
                                                          httpserver: HTTPServer) -> None:
    # Outlet A publishes in NFC; outlet B syndicates the same report in NFD with stray control
    # characters and a lone-surrogate reference (ill-formed XML: bozo, entries still read).
    dirty = nfd(CAFE_TEXT).replace(" told ", " told \x00 ").replace(" said ", " said \x0b ")
    dirty = dirty.replace(" wants ", " wants &#xD800; ")
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/a.xml").respond_with_data(
        _feed(_item(CAFE_TITLE, CAFE_TEXT, "cafe", 0), _item(PALANTIR_TITLE, PALANTIR_TEXT, "palantir", 5)),
        content_type="application/rss+xml")
    httpserver.expect_request("/b.xml").respond_with_data(
        _feed(_item(nfd(CAFE_TITLE), dirty, "cafe-syndicated", 30)), content_type="application/rss+xml")
    page = (f"<html><head><title>{nfd(PALANTIR_TITLE)}</title></head><body><article><h1>{nfd(PALANTIR_TITLE)}</h1>"
            f"<p>{nfd(PALANTIR_TEXT)}</p><p>{PALANTIR_TEXT.replace('twelve', 'twelve more')}</p></article>"
            "<time datetime='2026-11-18T11:00:00Z'></time></body></html>")
    httpserver.expect_request("/story").respond_with_data(page.encode("utf-8"), content_type="text/html; charset=utf-8")
    httpserver.expect_request("/sitemap.xml").respond_with_data(
        f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'><url><loc>"
        f"{httpserver.url_for('/story')}</loc></url></urlset>", content_type="application/xml")
    settings = Settings(db=sqlite_url)
    for name, path in (("outlet-a", "/a.xml"), ("outlet-b", "/b.xml")):
        sources.add(settings, {"name": name, "kind": "rss", "url": httpserver.url_for(path), "follow_links": False})
    sources.add(settings, {"name": "outlet-c", "kind": "sitemap", "url": httpserver.url_for("/sitemap.xml")})

    proc = subprocess.run([*CLI, "collect", "--db", sqlite_url], capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "outlet-b: warning, 1 new" in proc.stdout, proc.stdout  # bozo (NUL is not XML), entry kept
    proc = subprocess.run([*CLI, "process", "--db", sqlite_url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

    raw = subprocess.run([*CLI, "export", "--format", "jsonl", "--db", sqlite_url], capture_output=True,
                         check=True, timeout=60).stdout
    records = [json.loads(line) for line in raw.decode("utf-8").splitlines()]  # valid UTF-8, valid JSON
    assert len(records) == 4
    for rec in records:
        for field in ("title", "text"):
            value = rec[field]
            assert unicodedata.is_normalized("NFC", value), (field, value)
            assert not [c for c in value if unicodedata.category(c) in ("Cc", "Cs") and c != "\n"], value
            assert not BIDI & set(value) and "\u200b" not in value, value
    by_source = {r["source"]: r for r in records if "Café" in r["title"]}
    a, b = by_source["outlet-a"], by_source["outlet-b"]
    assert a["title"] == b["title"] == normalise_text(CAFE_TITLE)  # NFC, override gone
    # The NFD twin is recognised (which one is "first seen" depends on which crawl stored first).
    assert {a["duplicate_of"], b["duplicate_of"]} in ({None, a["id"]}, {None, b["id"]}), (a, b)
    assert a["story_id"] == b["story_id"]
    palantir = [r for r in records if "Palantir" in r["title"]]
    assert len(palantir) == 2  # the feed entry and the page, both readable "Palantir"
    for rec in palantir:
        assert {"palantir", "met-police"} <= set(rec["tags"]), (rec["source"], rec["tags"])
        assert "Ｍｅｔ Ｐｏｌｉｃｅ" in rec["title"]  # stored as published (NFC keeps full-width); matched via NFKC

    subscribers.add(settings, "analyst@example.org", "analyst")
    out = tmp_path / "digest"
    proc = subprocess.run([*CLI, "digest", "--week", WEEK, "--out", str(out), "--db", sqlite_url],
                          capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr
    stem = digest.file_stem("analyst@example.org", WEEK)
    html = (out / f"{stem}.html").read_text(encoding="utf-8")
    msg = email.message_from_bytes((out / f"{stem}.eml").read_bytes(), policy=policy.default)
    subject = str(msg["Subject"])
    cleaned = {normalise_text(CAFE_TITLE), normalise_text(PALANTIR_TITLE)}
    assert any(t in html for t in cleaned), "the override-bearing headlines are in the digest"
    lead = subject.split(": ", 1)[-1]  # the lead headline had an override (cut under 90 characters)
    assert lead in cleaned or any(t.startswith(lead.rstrip("…")) for t in cleaned), subject
    for where, value in (("subject", subject), ("html", html), ("txt", (out / f"{stem}.txt").read_text())):
        assert not BIDI & set(value), where
