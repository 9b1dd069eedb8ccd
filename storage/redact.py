"""Secrets never leave in what we print or store: one function every surface passes text through.

A source URL with `user:password@` is refused at the door (pipelines/sources.py), but text about a
URL comes from many places (a crawl's stderr, robots.txt errors that print `host` as the netloc,
an SMTP or database URL in an exception, an old registry row), so the fetch log, health, `sources
list`, the health report, the digest's coverage statement, export and error lines redact again.
"""
from __future__ import annotations

import re
from typing import overload

MASK = "***"

#: scheme://userinfo@ : everything up to the last '@' before the path is userinfo (as urlsplit reads it).
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s<>\"']*)@")
#: user:password@host with no scheme (a netloc printed on its own); mailto:name@ is an address, kept.
_BARE_USERINFO = re.compile(r"(?<![\w+.:/-])(?!mailto:)(?P<user>[\w.%~!$&()*+,;=-]+):(?P<password>[^\s/@<>\"']*)@"
                            r"(?=[\w\[])", re.IGNORECASE)
#: password=…, token=…, api_key=…, client_secret=… in a query string, a form or a key=value message.
_SECRET_PARAM = re.compile(r"(?P<key>\b[\w-]*(?:passw(?:or)?d|pwd|token|secret|api[_-]?key|apikey)=)"
                           r"(?P<value>[^&#\s;,\"'<>)]*)", re.IGNORECASE)


@overload
def redact(text: str) -> str: ...
@overload
def redact(text: None) -> None: ...
def redact(text: str | None) -> str | None:
    """`text` with URL userinfo and secret-looking parameter values replaced by ***."""
    if not text:
        return text
    if "@" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
        text = _BARE_USERINFO.sub(f"{MASK}@", text)
    if "=" in text:
        text = _SECRET_PARAM.sub(lambda m: f"{m['key']}{MASK}" if m["value"] else m[0], text)
    return text


def install_log_redaction() -> None:
    """Every log record created from now on in this process is redacted, whichever logger or
    handler it goes through (a handler filter would miss handlers added later, e.g. Scrapy's)."""
    import logging

    previous = logging.getLogRecordFactory()
    if getattr(previous, "_scrutineer_redacts", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report, not ours
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return record

    factory._scrutineer_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
