"""Bytes → text when publishers lie about charsets (RELIABILITY T17), for pages and feeds alike.

Precedence follows the WHATWG encoding sniffing algorithm for pages (BOM, then HTTP charset, then
`<meta charset>`, then detection), with two repairs browsers also make in effect: bytes labelled
UTF-8 that are not UTF-8 are read as what they are (windows-1252 smart quotes, a few stray bytes),
and an undeclared legacy charset (KOI8-R, Shift_JIS) is detected rather than read as Latin-1.
Every repair comes back with a one-line warning for source health.
"""
from __future__ import annotations

import codecs
import re

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_NUL_PATTERNS = ((b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"), (b"\x00<", "utf-16-be"),
                 (b"<\x00", "utf-16-le"))
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]{0,500}?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_XML_ENCODING = re.compile(rb"^<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([\w.:-]+)[\"']")
#: WHATWG maps these labels to windows-1252 (its superset); decoding as Latin-1 would turn smart
#: quotes into C1 control characters.
_AS_CP1252 = {"latin-1", "iso8859-1", "ascii", "cp1252"}
#: How much of a page is searched for <meta charset>: WHATWG prescans 1,024 bytes, but CMS pages put
#: long inline styles first (Miniflux TestNewReaderWith*MetaAfter1024Bytes).
META_SCAN = 64 * 1024


def canonical(label: str | None) -> str | None:
    """Python's codec name for a charset label, or None when unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    return "cp1252" if name in _AS_CP1252 else name


def bom_charset(body: bytes) -> str | None:
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    return None


def nul_sniff(body: bytes) -> str | None:
    """UTF-16/32 without a BOM, told apart by where the NULs of `<` fall."""
    for pattern, name in _NUL_PATTERNS:
        if body.startswith(pattern):
            return name
    return None


def http_charset(content_type: str | None) -> str | None:
    m = _HTTP_CHARSET.search(content_type or "")
    return m.group(1) if m else None


def xml_encoding(body: bytes) -> str | None:
    m = _XML_ENCODING.search(body[:300].lstrip(codecs.BOM_UTF8))
    return m.group(1).decode("ascii") if m else None


def meta_charset(body: bytes) -> str | None:
    m = _META_CHARSET.search(body[:META_SCAN])
    return m.group(1).decode("ascii", "replace") if m else None


def is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def damaged_utf8(body: bytes) -> bool:
    """UTF-8 with a few bad bytes (more well-formed multibyte characters than broken ones), as
    opposed to a legacy charset mislabelled UTF-8, where nearly every high byte is invalid."""
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd") - body.count(b"\xef\xbf\xbd")
    good = sum(1 for ch in text if ord(ch) > 127 and ch != "\ufffd")
    return 0 < bad <= good


def detect(body: bytes) -> str | None:
    """charset-normalizer's best guess on the first 64 KB (no network, no model download)."""
    from charset_normalizer import from_bytes

    best = from_bytes(body[:META_SCAN]).best()
    return canonical(best.encoding) if best is not None else None


def decode_page(body: bytes, content_type: str | None = None) -> tuple[str, str | None]:
    """(text, warning or None) for an HTML page."""
    found = bom_charset(body)
    if found:  # the BOM outranks every label (WHATWG "BOM sniff")
        rest = body[_bom_length(body):]
        return rest.decode(found, "replace"), (None if is_valid(rest, found)
                                                else "invalid bytes after the byte-order mark replaced")
    declared_http = canonical(http_charset(content_type))
    declared_meta = canonical(meta_charset(body))
    warning = None
    if declared_http and declared_meta and declared_http != declared_meta:
        warning = f"charset conflict: HTTP says {declared_http}, the page says {declared_meta}"
    labels = list(dict.fromkeys(c for c in (declared_http, declared_meta, nul_sniff(body)) if c))
    for i, charset in enumerate(labels):
        if is_valid(body, charset):
            if i:
                warning = f"declared {labels[0]} but the bytes are not; read as {charset} (the page's own label)"
            return body.decode(charset), warning
    if labels[:1] in ([], ["utf-8"]) and damaged_utf8(body):
        return body.decode("utf-8", "replace"), "invalid UTF-8 bytes replaced"
    if not labels and is_utf8(body):
        return body.decode("utf-8"), warning
    guessed = detect(body) or "cp1252"
    text = body.decode(guessed, "replace")
    if labels:
        return text, f"declared {labels[0]} but the bytes are not; read as {guessed} (detected)"
    return text, f"no charset declared and not UTF-8; read as {guessed} (detected)"


def is_valid(body: bytes, charset: str) -> bool:
    try:
        body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _bom_length(body: bytes) -> int:
    for bom, _ in _BOMS:
        if body.startswith(bom):
            return len(bom)
    return 0


def repair_feed_bytes(body: bytes, content_type: str | None) -> tuple[bytes, str | None]:
    """What feedparser gets wrong, fixed before it sees the bytes: (body, warning or None).

    feedparser reads a UTF-8 document with one stray byte as ISO-8859-2 (every character wrong) and
    an undeclared KOI8-R or Shift_JIS document as windows-1252. Everything else, including HTTP
    charset overriding the XML declaration (RFC 3023), is left to feedparser's documented rules.
    """
    bom = bom_charset(body)
    if (bom and bom != "utf-8") or nul_sniff(body) or is_utf8(body):
        return body, None
    declared_http = canonical(http_charset(content_type))
    declared_xml = canonical(xml_encoding(body))
    labelled_utf8 = bom == "utf-8" or declared_http == "utf-8" or (
        declared_http is None and declared_xml in (None, "utf-8"))
    if labelled_utf8 and damaged_utf8(body):
        return body.decode("utf-8", "replace").encode("utf-8"), "invalid UTF-8 bytes replaced"
    if bom is None and declared_http is None and xml_encoding(body) is None and http_charset(content_type) is None:
        guessed = detect(body)
        if guessed and guessed != "cp1252" and is_valid(body, guessed):
            return (body.decode(guessed).encode("utf-8"),
                    f"no charset declared and not UTF-8; read as {guessed} (detected)")
    return body, None
