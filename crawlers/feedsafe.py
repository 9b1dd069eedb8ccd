"""feedparser made safe for hostile bytes: no entity declarations survive, no crash on bad input.

feedparser strips the DOCTYPE but re-inserts the entity declarations it deems "safe" (plain text
values) and expands them in both its strict and loose parsers: a 150 KB feed with one 100 KB entity
used 10,000 times took 95 s and 2.8 GB here (RELIABILITY T16). We drop every declaration instead,
so an entity reference stays literal text, and the feed is bozo.
"""
from __future__ import annotations

import io
import re
from typing import Any
from xml.sax.xmlreader import AttributesNSImpl

import feedparser
import feedparser.api

from crawlers.charset import repair_feed_bytes

_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_CHARREF = re.compile(rb"&#([xX][0-9a-fA-F]+|[0-9]+);")


def _allowed_char(code: int) -> bool:
    """XML 1.0 Char: no C0 controls but tab/LF/CR, no surrogates, no U+FFFE/U+FFFF."""
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)


def drop_bad_charrefs(data: bytes) -> bytes:
    """Remove references to characters XML forbids (Miniflux's filterValidXMLChars, for references):
    feedparser's loose parser raises UnicodeEncodeError on a lone surrogate such as `&#xD800;`."""
    def keep(m: re.Match[bytes]) -> bytes:
        ref = m.group(1)
        if len(ref) > 9:
            return b""  # beyond U+10FFFF however written
        code = int(ref[1:], 16) if ref[:1] in b"xX" else int(ref)
        return m.group(0) if _allowed_char(code) else b""
    return _CHARREF.sub(keep, data)


def _doctype_end(data: bytes, start: int) -> int:
    """Index just past the DOCTYPE opening at `start`, internal subset and quoted strings included."""
    i, depth, quote = start + 2, 0, 0
    while i < len(data):
        c = data[i]
        if quote:
            quote = 0 if c == quote else quote
        elif c in b"\"'":
            quote = c
        elif c == ord("["):
            depth += 1
        elif c == ord("]"):
            depth = max(depth - 1, 0)
        elif c == ord(">") and depth == 0:
            return i + 1
        i += 1
    return len(data)


def _prolog_end(data: bytes) -> int:
    """Index of the root element: past the XML declaration, processing instructions, comments
    (which may mention tags) and DOCTYPEs. A regex for the first "<tag" stops inside a comment."""
    i = 0
    while True:
        while i < len(data) and data[i] in b" \t\r\n\xef\xbb\xbf":
            i += 1
        if data.startswith(b"<?", i):
            end = data.find(b"?>", i)
        elif data.startswith(b"<!--", i):
            end = data.find(b"-->", i)
            end = -1 if end == -1 else end + 1
        elif data[i:i + 9].upper() == b"<!DOCTYPE":
            i = _doctype_end(data, i)
            continue
        else:
            first = _FIRST_ELEMENT.search(data, i)
            return first.start() if first else len(data)
        if end == -1:
            return len(data)
        i = end + 2


def strip_doctype(data: bytes) -> tuple[str | None, bytes, dict[str, str]]:
    """feedparser's `replace_doctype` contract, minus the entities: (version, data, {}).

    Also drops character references to forbidden code points; `data` is UTF-8 by now."""
    head_end = _prolog_end(data)
    head, rest = data[:head_end], data[head_end:]
    version = None
    at = head.upper().find(b"<!DOCTYPE")
    while at != -1:
        end = _doctype_end(head, at)
        if b"netscape" in head[at:end].lower():
            version = "rss091n"  # RSS 0.91 (Netscape) is told apart by its DOCTYPE alone
        head = head[:at] + head[end:]
        at = head.upper().find(b"<!DOCTYPE")
    return version, head + drop_bad_charrefs(rest), {}


#: feedparser's strict parser looks each attribute up by a linear scan (`getValueByQName`), so one
#: element with n attributes costs n²: 4,000 took 2 s, 100,000 (10 MB) did not finish in 10 min
#: (T22). No feed element needs more than a handful; the rest are dropped.
MAX_ATTRIBUTES = 256


class _BoundedStrictFeedParser(feedparser.api.StrictFeedParser):
    def startElementNS(self, name: Any, qname: Any, attrs: Any) -> None:  # noqa: N802 - SAX API
        if len(attrs) > MAX_ATTRIBUTES:
            keep = list(attrs.getNames())[:MAX_ATTRIBUTES]
            attrs = AttributesNSImpl({k: attrs.getValue(k) for k in keep},
                                     {k: attrs.getQNameByName(k) for k in keep})
        super().startElementNS(name, qname, attrs)


feedparser.api.replace_doctype = strip_doctype
feedparser.api.StrictFeedParser = _BoundedStrictFeedParser


def parse(body: bytes, headers: dict[str, str]) -> Any:
    """feedparser from bytes and response headers (never a URL or path: it would fetch or read it).

    Charset lies feedparser misreads are repaired first (crawlers.charset) and reported as bozo.
    Any exception inside feedparser becomes a bozo result with no entries, so the caller reports
    "not a feed" instead of a traceback.
    """
    body, note = repair_feed_bytes(body, headers.get("content-type"))
    try:
        result = feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=True,
                                  resolve_relative_uris=True)
    except Exception as exc:  # noqa: BLE001 - hostile input must end as a source error, never a crash
        return feedparser.FeedParserDict(bozo=1, bozo_exception=exc, entries=[], feed={}, version="")
    if note:  # a charset repair is a warning in health, like feedparser's own CharacterEncodingOverride
        earlier = result.get("bozo_exception")
        result["bozo"] = 1
        result["bozo_exception"] = feedparser.CharacterEncodingOverride(f"{note}; {earlier}" if earlier else note)
    return result
