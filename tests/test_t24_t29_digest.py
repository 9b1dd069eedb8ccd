"""RELIABILITY rows T24–T29: the digest is safe to render, safe to send, sent at most once,
unsubscribable in one click, and cut on the right week boundaries. Real aiosmtpd servers."""
from __future__ import annotations

import email
import itertools
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import time_machine
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as AioSMTP
from pytest_httpserver import HTTPServer

from console.app import serve as unsubscribe_server
from core import weeks
from core.settings import Settings
from demo.smtp_sink import SmtpSink, free_port
from pipelines import digest, process, sources, subscribers
from storage import people
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, read, write

WEEK = "2026-W47"
CLI = [sys.executable, "-m", "scrutineer.cli"]
ON_TOPIC = ("The Metropolitan Police said its live facial recognition cameras and AI software would be used "
            "by officers again, and Palantir defended the data platform as police leaders met. ")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=120)


def _eml(path: Path) -> Any:
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def _article(db: str, url: str, title: str, text: str = ON_TOPIC * 3,
             when: datetime = datetime(2026, 11, 18, 10, tzinfo=timezone.utc)) -> None:
    with write(get_engine(db)) as conn:
        store_articles(conn, [Article(url=url, canonical_url=url, source="t", title=title, text=text,
                                      published_at=when)])


HOSTILE = [
    '</a><script>alert(1)</script> Met Police facial recognition row',
    '"><img src=x onerror=alert(1)> Palantir police data',
    '<style>body{background:url(https://evil.test/p.png)}</style> Met Police AI',
    '<form action=https://evil.test><input name=p></form> facial recognition police',
    '<svg><script>alert(1)</script></svg> <base href="https://evil.test/"> police AI cameras',
    '<meta http-equiv="refresh" content="0;url=https://evil.test"> Met officers data',
    '&quot;&gt;<img src=https://evil.test/pixel.gif width=1 height=1> police facial recognition',
    'expression(alert(1)) <iframe src=https://evil.test></iframe> Met Police Palantir',
]


BODIES = [
    "Officers in Croydon used live facial recognition vans outside the station; Met leaders defended the AI.",
    "Palantir staff briefed the Met on the workforce data platform as police unions raised concerns.",
    "A council committee questioned how police share CCTV data with an AI analytics vendor in the borough.",
    "The Home Office funded more facial recognition cameras for police forces after a trial in Essex last spring.",
    "Metropolitan Police officers tested an algorithm that ranks burglary reports, prompting questions from MPs.",
    "Campaigners filmed police using retrospective facial recognition on protest footage in central London.",
    "A tender for police drone software drew six bidders, including a firm that supplies AI to the Met.",
    "Police chiefs told a conference that deepfake fraud and AI-enabled crime were outpacing forces' technology.",
]


def test_t24_markup_injection_never_reaches_the_digest(tmp_path: Path, sqlite_url: str,
                                                       httpserver: HTTPServer) -> None:
    items = "".join(
        f"<item><title>{t.replace('&', '&amp;').replace('<', '&lt;')}</title>"
        f"<link>javascript:alert({i})</link><guid>g{i}</guid><pubDate>Wed, 18 Nov 2026 10:0{i}:00 +0000</pubDate>"
        f"<description><![CDATA[{t} <a href='javascript:alert(1)'>x</a> {BODIES[i] * 2}]]></description></item>"
        for i, t in enumerate(HOSTILE))
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/feed.xml").respond_with_data(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>{items}</channel></rss>",
        content_type="application/rss+xml")
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "hostile", "kind": "rss", "url": httpserver.url_for("/feed.xml")})
    assert _cli("collect", "--db", sqlite_url).returncode == 0
    assert _cli("process", "--db", sqlite_url).returncode == 0
    subscribers.add(settings, "reader@example.org", "analyst")
    out = tmp_path / "out"
    proc = _cli("digest", "--week", WEEK, "--out", str(out), "--db", sqlite_url)
    assert proc.returncode == 0, proc.stderr
    page = (out / f"{digest.file_stem('reader@example.org', WEEK)}.html").read_text()
    tree = lxml.html.fromstring(page)
    assert len(list(tree.iter("h3"))) >= 4  # the hostile items are there, as text
    for tag in ("script", "style", "iframe", "form", "base", "svg", "input"):
        assert not list(tree.iter(tag)), tag
    assert not [m for m in tree.iter("meta") if m.get("http-equiv")]
    # The written page shows the chart from the PNG beside it (a cid: reference works only in the mail).
    assert all(img.get("src") == f"{digest.file_stem('reader@example.org', WEEK)}.png" for img in tree.iter("img"))
    assert not [k for el in tree.iter() for k in el.attrib if k.lower().startswith("on")]
    styles = "".join(el.get("style", "") for el in tree.iter())
    assert "url(" not in styles and "expression(" not in styles  # scraped CSS only ever appears as text
    hrefs = [a.get("href") for a in tree.iter("a")]
    assert all(h.startswith(("http://", "https://")) for h in hrefs)
    assert not [h for h in hrefs if "evil.test" in h or "javascript" in h]
    assert "<script>alert(1)</script>" in tree.text_content()  # shown as text, not markup
    text = (out / f"{digest.file_stem('reader@example.org', WEEK)}.txt").read_text()
    assert "Met Police facial recognition row" in text and "javascript:" not in text


def test_t25_header_injection(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    _article(sqlite_url, "https://x.test/a", "Hello\r\nBcc: evil@x.test Met Police facial recognition " + "é" * 10)
    _article(sqlite_url, "https://x.test/b", "Met Police AI " + "long " * 400)
    process.run(settings)
    subscribers.add(settings, "ann@example.org", "analyst", name='Ann "Q", Smith — Ünïcode')
    bad = _cli("subscribers", "add", "evil@x.test\r\nBcc: other@x.test", "--db", sqlite_url)
    assert bad.returncode == 1 and "not a valid email address" in bad.stderr
    assert _cli("subscribers", "add", "ok@example.org", "--db", sqlite_url).returncode == 0
    with SmtpSink() as sink:
        proc = _cli("digest", "--week", WEEK, "--out", str(tmp_path), "--send", "--db", sqlite_url,
                    env={"SCRUTINEER_SMTP_URL": sink.url})
        assert proc.returncode == 0, proc.stderr
    assert sink.by_recipient == {"ann@example.org": 1, "ok@example.org": 1}
    assert all(len(rcpts) == 1 for rcpts, _ in sink.messages)
    for raw in (r for _, r in sink.messages):
        assert b"\nBcc:" not in raw and b"\r\nBcc:" not in raw
    msg = _eml(tmp_path / f"{digest.file_stem('ann@example.org', WEEK)}.eml")
    assert [a.addr_spec for a in msg["To"].addresses] == ["ann@example.org"]
    assert msg["To"].addresses[0].display_name == 'Ann "Q", Smith — Ünïcode'
    assert "Bcc" not in msg and "\n" not in str(msg["Subject"])
    lines = (tmp_path / f"{digest.file_stem('ann@example.org', WEEK)}.eml").read_bytes().split(b"\r\n")
    first = next(i for i, line in enumerate(lines) if line.startswith(b"Subject:"))
    folded = [lines[first], *itertools.takewhile(lambda line: line[:1] in (b" ", b"\t"), lines[first + 1:])]
    assert len(folded) > 1 and all(len(line) <= 78 for line in folded)  # folded (RFC 5322 §2.1.1)
    assert b"=?utf-8?" in b"".join(folded).lower()  # non-ASCII RFC 2047-encoded


def _one_story(db: str) -> None:
    """The week needs something in it: a digest with nothing to say is not sent (issue 12)."""
    _article(db, "https://news.example/met-ai", "Met Police facial recognition and Palantir AI row")
    process.run(Settings(db=db))


@pytest.fixture
def three_subscribers(sqlite_url: str) -> Settings:
    settings = Settings(db=sqlite_url)
    _one_story(sqlite_url)
    for name in ("a", "b", "c"):
        subscribers.add(settings, f"{name}@example.org", "analyst")
    return settings


def _deliveries(db: str) -> dict[str, str]:
    with read(get_engine(db)) as conn:
        return {d["subscriber"]: d["status"] for d in people.list_deliveries(conn, WEEK)}


@pytest.mark.parametrize("fault, sent_before, ledger", [
    ("before_data", 0, {"a@example.org": "sending"}),
    ("after_smtp_250", 1, {"a@example.org": "sending"}),
    ("mid_batch:2", 2, {"a@example.org": "sent", "b@example.org": "sent"}),
])
def test_t26_at_most_once_across_crashes(three_subscribers: Settings, fault: str, sent_before: int,
                                         ledger: dict[str, str]) -> None:
    db = three_subscribers.db
    with SmtpSink() as sink:
        env = {"SCRUTINEER_SMTP_URL": sink.url}
        crashed = _cli("digest", "--week", WEEK, "--send", "--db", db, env={**env, "SCRUTINEER_TEST_FAULT": fault})
        assert crashed.returncode == -signal.SIGKILL
        assert len(sink.messages) == sent_before and _deliveries(db) == ledger
        with write(get_engine(db)) as conn:  # age the claim: the crashed process is long gone
            from sqlalchemy import update

            from storage.schema import deliveries
            conn.execute(update(deliveries).values(updated_at=datetime.now(timezone.utc) - timedelta(hours=1)))
        rerun = _cli("digest", "--week", WEEK, "--send", "--db", db, env=env)
        again = _cli("digest", "--week", WEEK, "--send", "--db", db, env=env)
    assert all(n == 1 for n in sink.by_recipient.values()) and all(n == 1 for n in sink.by_message_id.values())
    assert set(sink.by_recipient) == {"a@example.org", "b@example.org", "c@example.org"} - (
        {"a@example.org"} if fault != "mid_batch:2" else set()) | ({"a@example.org"} if sent_before else set())
    if fault in ("before_data", "after_smtp_250"):
        assert rerun.returncode == 1 and "a@example.org: unknown" in rerun.stdout  # reported, never resent
        assert _deliveries(db)["a@example.org"] == "sending"
    assert "skipped-sent" in again.stdout


class _ScriptedSink(SmtpSink):
    """Answers the first DATA with a scripted code, then accepts."""

    def __init__(self, first_reply: str) -> None:
        super().__init__()
        self.first_reply: str | None = first_reply

    def accept(self, envelope: Any) -> str:
        if self.first_reply:
            reply, self.first_reply = self.first_reply, None
            return reply
        return super().accept(envelope)


def test_t26_transient_retried_permanent_failed(sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    _one_story(sqlite_url)
    subscribers.add(settings, "a@example.org", "analyst")
    with _ScriptedSink("451 4.3.0 try later") as sink:
        first = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, env={"SCRUTINEER_SMTP_URL": sink.url})
        assert "a@example.org: retry" in first.stdout and _deliveries(sqlite_url) == {"a@example.org": "retry"}
        second = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, env={"SCRUTINEER_SMTP_URL": sink.url})
        assert "a@example.org: sent" in second.stdout
    assert sink.by_recipient == {"a@example.org": 1}
    subscribers.add(settings, "b@example.org", "analyst")
    with _ScriptedSink("550 5.1.1 no such user") as sink:
        env = {"SCRUTINEER_SMTP_URL": sink.url}
        failed = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, env=env)
        assert "b@example.org: failed" in failed.stdout and failed.returncode == 1
        later = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, env=env)
        assert "b@example.org: skipped-failed" in later.stdout
    assert sink.by_recipient == {}


def test_t26_concurrent_sends_deliver_once(three_subscribers: Settings) -> None:
    with SmtpSink() as sink:
        env = {**os.environ, "SCRUTINEER_SMTP_URL": sink.url}
        procs = [subprocess.Popen([*CLI, "digest", "--week", WEEK, "--send", "--db", three_subscribers.db],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sink.by_recipient == {"a@example.org": 1, "b@example.org": 1, "c@example.org": 1}
    assert digest.message_id("a@example.org", WEEK) == digest.message_id("A@example.org", WEEK)


class _NoStartTLS(AioSMTP):
    async def smtp_STARTTLS(self, arg: str) -> None:  # noqa: N802 - aiosmtpd API
        await self.push("454 4.7.0 TLS not available due to temporary reason")


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_ctx, ca_file


def _tls_controller(handler: Any, ctx: ssl.SSLContext | None, port: int, **kw: Any) -> Controller:
    return Controller(handler, hostname="127.0.0.1", port=port, tls_context=ctx, **kw)


def test_t27_smtp_transport_never_falls_back_to_clear(sqlite_url: str, tls_cert: tuple[ssl.SSLContext, Path]) -> None:
    server_ctx, ca_file = tls_cert
    settings = Settings(db=sqlite_url)
    _one_story(sqlite_url)
    subscribers.add(settings, "a@example.org", "analyst")

    def send(url: str) -> subprocess.CompletedProcess[str]:
        return _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, env={"SCRUTINEER_SMTP_URL": url})

    # STARTTLS asked for but not offered.
    with SmtpSink() as plain:
        proc = send(plain.url + "?starttls=1")
        assert proc.returncode == 1 and "does not offer STARTTLS" in proc.stderr and not plain.messages
        creds = send(plain.url.replace("smtp://", "smtp://user:secret@"))
        assert creds.returncode == 1 and "credentials without TLS" in creds.stderr and not plain.messages
    # STARTTLS offered with an untrusted certificate, then with the test CA configured.
    sink = SmtpSink()
    port = free_port()
    controller = _tls_controller(sink_handler(sink), server_ctx, port)
    controller.start()
    try:
        untrusted = send(f"smtp://127.0.0.1:{port}?starttls=1")
        assert untrusted.returncode == 1 and "TLS" in untrusted.stderr and not sink.messages
        assert "Traceback" not in untrusted.stderr
        trusted = send(f"smtp://127.0.0.1:{port}?starttls=1&cafile={ca_file}")
        assert trusted.returncode == 0, trusted.stderr
        assert sink.by_recipient == {"a@example.org": 1}
    finally:
        controller.stop()
    # STARTTLS answered 454.
    class _Controller454(Controller):
        def factory(self) -> AioSMTP:
            return _NoStartTLS(self.handler, tls_context=server_ctx)

    subscribers.add(settings, "b@example.org", "analyst")
    refused = SmtpSink()
    port = free_port()
    c454 = _Controller454(sink_handler(refused), hostname="127.0.0.1", port=port)
    c454.start()
    try:
        proc = send(f"smtp://127.0.0.1:{port}?starttls=1&cafile={ca_file}")
        assert proc.returncode == 1 and "454" in proc.stderr and not refused.messages
    finally:
        c454.stop()


def sink_handler(sink: SmtpSink) -> Any:
    from demo.smtp_sink import _Handler

    return _Handler(sink)


def test_t28_one_click_unsubscribe(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    _one_story(sqlite_url)
    subscribers.add(settings, "a@example.org", "analyst")
    report = digest.run(settings, week=WEEK, out=tmp_path)
    msg = _eml(next(tmp_path.glob("*.eml")))
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_uri = msg["List-Unsubscribe"].split(",")[0].strip("<> ")
    assert https_uri.startswith("https://") and "mailto:" in msg["List-Unsubscribe"]
    token = https_uri.rsplit("/", 1)[1]
    assert len(token) >= 32 and "a@example.org" not in https_uri and report.digests
    httpd = unsubscribe_server(settings, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/unsubscribe/"

    def call(tok: str, body: bytes | None) -> int:
        req = urllib.request.Request(base + tok, data=body, method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    try:
        assert call(token, None) == 200
        assert subscribers.listing(settings)[0]["status"] == "active"  # a GET never unsubscribes
        assert call("x" * 8, b"List-Unsubscribe=One-Click") == 404
        assert call("A" * 43, b"List-Unsubscribe=One-Click") == 404  # forged
        assert call(token, b"something-else") == 400
        assert call(token, b"List-Unsubscribe=One-Click") == 200
        assert call(token, b"List-Unsubscribe=One-Click") == 200  # idempotent, no redirect
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert subscribers.listing(settings)[0]["status"] == "unsubscribed"
    with SmtpSink() as sink:
        proc = _cli("digest", "--week", "2026-W48", "--send", "--db", sqlite_url, env={"SCRUTINEER_SMTP_URL": sink.url})
        assert proc.returncode == 0 and not sink.messages
    assert _cli("subscribers", "remove", "a@example.org", "--db", sqlite_url).returncode == 0
    assert _cli("subscribers", "remove", "a@example.org", "--db", sqlite_url).returncode == 0


def test_t29_week_boundaries_and_dst(sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    start, end = weeks.window("2026-W43")
    instants = {"at-start": start, "just-before-end": end - timedelta(microseconds=1), "at-end": end,
                "july": datetime(2026, 7, 19, 23, 30, tzinfo=timezone.utc)}
    for i, (key, when) in enumerate(instants.items()):  # distinct reports: no dedupe, no shared story
        _article(sqlite_url, f"https://x.test/{key}", f"Report {i} {key}", text=BODIES[i] * 3, when=when)
    process.run(settings)
    seen: dict[str, list[str]] = {}
    for week in ("2026-W42", "2026-W43", "2026-W44", "2026-W29", "2026-W30"):
        for story in digest.gather(settings, week).stories:
            seen.setdefault(story["headline"].rsplit(" ", 1)[1], []).append(week)
    assert seen == {"at-start": ["2026-W43"], "just-before-end": ["2026-W43"], "at-end": ["2026-W44"],
                    "july": ["2026-W30"]}
    assert _cli("digest", "--week", "2026-W53", "--db", sqlite_url).returncode == 0
    for bad in ("2025-W53", "2026-13"):
        proc = _cli("digest", "--week", bad, "--db", sqlite_url)
        assert proc.returncode == 2 and "week" in proc.stderr
    with time_machine.travel(datetime(2026, 7, 19, 23, 30, tzinfo=timezone.utc), tick=False):  # Mon 00:30 BST
        assert digest.run(settings).week == "2026-W29"


def _injecting_server(server_ctx: ssl.SSLContext, received: list[bytes]) -> tuple[int, threading.Thread]:
    """A raw SMTP server that pipelines a forged "250" right after its STARTTLS go-ahead, in clear
    (the STARTTLS response-injection attack, RFC 3207 §6), then speaks SMTP over TLS."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(20)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.settimeout(20)
        f = conn.makefile("rb")
        conn.sendall(b"220 sink ESMTP\r\n")
        f.readline()  # EHLO
        conn.sendall(b"250-sink\r\n250 STARTTLS\r\n")
        f.readline()  # STARTTLS
        conn.sendall(b"220 go ahead\r\n250-FORGED injected in clear\r\n250 AUTH PLAIN\r\n")
        try:
            tls = server_ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            received.append(b"handshake-failed")
            conn.close()
            return
        tf = tls.makefile("rb")
        replies = {b"EHLO": b"250-sink\r\n250 SIZE 10000000\r\n", b"MAIL": b"250 ok\r\n", b"RCPT": b"250 ok\r\n",
                   b"QUIT": b"221 bye\r\n", b"RSET": b"250 ok\r\n", b"NOOP": b"250 ok\r\n"}
        while True:
            line = tf.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb == b"DATA":
                tls.sendall(b"354 go\r\n")
                body = b""
                while not body.endswith(b"\r\n.\r\n"):
                    chunk = tf.readline()
                    if not chunk:
                        break
                    body += chunk
                received.append(body)
                tls.sendall(b"250 queued\r\n")
            else:
                tls.sendall(replies.get(verb, b"500 unknown\r\n"))
                if verb == b"QUIT":
                    break
        tls.close()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return int(listener.getsockname()[1]), thread


def test_t27_plaintext_injected_before_the_handshake_is_ignored(sqlite_url: str,
                                                               tls_cert: tuple[ssl.SSLContext, Path]) -> None:
    server_ctx, ca_file = tls_cert
    _one_story(sqlite_url)
    subscribers.add(Settings(db=sqlite_url), "a@example.org", "analyst")
    received: list[bytes] = []
    port, thread = _injecting_server(server_ctx, received)
    proc = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url,
                env={"SCRUTINEER_SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=1&cafile={ca_file}"})
    thread.join(timeout=30)
    # Either the client discarded the forged lines and sent over TLS after a fresh EHLO, or the
    # handshake failed on them: never did the forged "AUTH" or any clear-text exchange count.
    assert "Traceback" not in proc.stderr
    if received == [b"handshake-failed"]:
        assert proc.returncode == 1 and "TLS" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        assert len(received) == 1 and b"a@example.org" in received[0]
