"""Digest rendering and at-most-once delivery against a real aiosmtpd server."""
from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from demo.smtp_sink import SmtpSink
from evaluation.evaluate import match_records
from pipelines import digest, subscribers
from pipelines.errors import UserError
from scrutineer.cli import main

WEEK = "2026-W47"


def _eml(path: Path) -> Any:
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def test_out_writes_multipart_digest_per_subscriber(collected: dict[str, Any], tmp_path: Path, newsroom: Any,
                                                   truth: dict[str, Any]) -> None:
    settings = collected["settings"]
    assert main(["digest", "--week", WEEK, "--out", str(tmp_path), "--db", settings.db]) == 0
    emls = sorted(tmp_path.glob("*.eml"))
    assert len(emls) == 2 and len(list(tmp_path.glob("*.html"))) == 2 and len(list(tmp_path.glob("*.txt"))) == 2
    assert (Path(settings.db.removeprefix("sqlite:///")).parent / "archive" / "index.html").exists()
    from conftest import export_records

    got = match_records(export_records(settings), truth, newsroom.outlets)
    off_topic = [rec["title"] for key, rec in got.items()
                 if not truth["articles"][key.split(" ", 1)[0]][key.split(" ", 1)[1]]["relevant"]]
    for path in emls:
        msg = _eml(path)
        assert msg.is_multipart() and msg.get_content_type() == "multipart/alternative"
        types = [part.get_content_type() for part in msg.iter_parts()]
        assert types[0] == "text/plain" and types[1] in ("text/html", "multipart/related")
        html = msg.get_body(("html",)).get_content()
        tree = lxml.html.fromstring(html)
        headlines = [h.text_content().strip() for h in tree.iter("h3")]
        assert headlines, path.name
        text = tree.text_content()
        for title in off_topic:
            assert title not in text
        for link in tree.iter("a"):
            assert link.get("href", "").startswith(("http://", "https://"))
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["Message-ID"] == digest.message_id(msg["To"].addresses[0].addr_spec, WEEK)
    rights = _eml(next(p for p in emls if "rights" in p.name)).get_body(("html",)).get_content()
    assert "Peterborough" in rights  # facial recognition is a rights-profile topic
    vendor = _eml(next(p for p in emls if "vendor" in p.name)).get_body(("html",)).get_content()
    reasons = [line for line in lxml.html.fromstring(vendor).text_content().splitlines() if "Why you got this" in line]
    assert reasons and all(any(t in r for t in ("Procurement", "Palantir", "Policing and Crime")) for r in reasons)


def test_send_is_at_most_once_per_subscriber_and_week(collected: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    settings = collected["settings"]
    with SmtpSink() as sink:
        monkeypatch.setenv("SCRUTINEER_SMTP_URL", sink.url)
        assert main(["digest", "--week", WEEK, "--send", "--db", settings.db]) == 0
        assert main(["digest", "--week", WEEK, "--send", "--db", settings.db]) == 0
        out = capsys.readouterr().out
    assert sink.by_recipient == {"rights@example.org": 1, "vendor@example.org": 1}
    assert all(count == 1 for count in sink.by_message_id.values())
    assert "skipped-sent" in out
    for rcpts, _ in sink.messages:
        assert len(rcpts) == 1


def test_hostile_titles_are_escaped_and_headers_cannot_be_injected(sqlite_url: str, tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from core.settings import Settings
    from pipelines import process
    from storage.article import Article
    from storage.articles import store_articles
    from storage.db import get_engine, write

    settings = Settings(db=sqlite_url)
    title = ('</a><script>alert(1)</script> Met Police facial recognition "><img src=x onerror=alert(1)>'
             '\r\nBcc: evil@x.test')
    body = ("The Metropolitan Police said its live facial recognition cameras and AI software would be used "
            "by officers again. Police and the data platform vendor Palantir defended the technology. ") * 4
    with write(get_engine(sqlite_url)) as conn:
        store_articles(conn, [Article(url="javascript:alert(1)", canonical_url="https://x.test/a", source="x",
                                      title=title, text=body,
                                      published_at=datetime(2026, 11, 18, 10, tzinfo=timezone.utc))])
    process.run(settings)
    subscribers.add(settings, "reader@example.org", "analyst", name='Ann "Q", Smith')
    with pytest.raises(UserError):
        subscribers.add(settings, "evil@x.test\r\nBcc: other@x.test", "analyst")
    report = digest.run(settings, week=WEEK, out=tmp_path)
    html = report.digests[0].html
    tree = lxml.html.fromstring(html)
    for bad in ("script", "iframe", "form", "base", "style", "svg", "meta"):
        assert not [el for el in tree.iter(bad) if bad != "meta" or el.get("http-equiv")], bad
    # The only image is our own chart, carried inside the message by Content-ID.
    assert all(img.get("src") == f"cid:{digest.CHART_CID}" for img in tree.iter("img"))
    assert all(not k.startswith("on") for el in tree.iter() for k in el.attrib)
    assert "javascript:" not in html
    msg = _eml(next(tmp_path.glob("*.eml")))
    assert "Bcc" not in msg and len(msg.get_all("To")) == 1
    assert msg["To"].addresses[0].addr_spec == "reader@example.org"
