"""REDTEAM R2: List-Unsubscribe is a plain `<https://…>, <mailto:…>` header, never RFC 2047-encoded,
in the .eml written to --out and in the bytes a real SMTP server receives (RFC 2369, RFC 8058)."""
from __future__ import annotations

import re
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from core.settings import Settings
from demo.smtp_sink import SmtpSink
from pipelines import subscribers
from pipelines.errors import ConfigError
from pipelines.mailer import parse_smtp_url
from scrutineer.cli import main
from tests.digest_week import build

WEEK = "2026-W47"
HEADER = re.compile(rb"^List-Unsubscribe:((?:.*\r?\n)(?:[ \t].*\r?\n)*)", re.MULTILINE | re.IGNORECASE)


def _raw_header(raw: bytes) -> str:
    """The header's value exactly as transmitted, unfolded (RFC 5322 §2.2.3), without any decoding."""
    found = HEADER.search(raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0] + b"\r\n")
    assert found, raw[:400]
    return re.sub(rb"\r?\n(?=[ \t])", b"", found.group(1)).decode("ascii").strip()


def _check(raw: bytes, public: str) -> None:
    value = _raw_header(raw)
    assert "=?" not in value, value
    uris = [u.strip() for u in value.split(",")]
    assert re.fullmatch(re.escape(f"<{public}/unsubscribe/") + r"[A-Za-z0-9_-]{20,}>", uris[0]), value
    assert uris[1].startswith("<mailto:unsubscribe@") and uris[1].endswith(">"), value
    # A parser that does not decode encoded words (compat32, like many providers) sees the same URI.
    assert str(message_from_bytes(raw, policy=compat32)["List-Unsubscribe"]).replace("\r\n", "").replace(
        "\n", "").split(",")[0].strip() == uris[0]
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_r2_list_unsubscribe_plain_in_eml_and_over_smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"
    public = "https://digest.newsdesk.example.org"
    monkeypatch.setenv("SCRUTINEER_PUBLIC_URL", public)
    monkeypatch.setenv("SCRUTINEER_UNSUBSCRIBE_MAILTO", "unsubscribe@digest.newsdesk.example.org")
    build(db)  # a week with a story in it: an empty digest is not sent
    subscribers.add(Settings(db=db), "reader.with.a.rather.long.address@newsdesk.example.org", "analyst")
    with SmtpSink() as sink:
        monkeypatch.setenv("SCRUTINEER_SMTP_URL", sink.url)
        assert main(["digest", "--week", WEEK, "--out", str(tmp_path / "out"), "--send", "--db", db]) == 0
        assert len(sink.messages) == 1
        received = sink.messages[0][1]
    emls = list((tmp_path / "out").glob("*.eml"))
    assert len(emls) == 1
    _check(emls[0].read_bytes(), public)
    _check(received, public)


def test_r13_smtp_url_with_a_non_numeric_port_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="invalid port"):
        parse_smtp_url("smtp://mail.example.org:twenty-five")
    db = f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"
    build(db)
    subscribers.add(Settings(db=db), "reader@newsdesk.example.org", "analyst")
    monkeypatch.setenv("SCRUTINEER_SMTP_URL", "smtp://user:s3cr3t-pw@127.0.0.1:abc")
    assert main(["digest", "--week", WEEK, "--send", "--db", db]) == 1
    err = capsys.readouterr().err
    assert err == "scrutineer: error: SCRUTINEER_SMTP_URL has an invalid port (must be a number 1-65535): 'abc'\n"
