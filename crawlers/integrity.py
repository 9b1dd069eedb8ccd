"""Bodies whose end HTTP cannot vouch for: close-delimited responses.

A response with neither Content-Length nor chunked encoding ends when the server closes the
connection, so a server that dies mid-body (a reset) and one that finished look alike: Twisted
reports both as PotentialDataLoss, and Scrapy passes the body on flagged "partial", past
DOWNLOAD_FAIL_ON_DATALOSS. A truncated page must not become a stored article (T08), so a
close-delimited markup body is accepted when it visibly ends: the root element's closing tag
(`</html>`, `</rss>`, `</feed>`, `</urlset>`) near its end. One that does not is fetched once more.
XML without its root's end is malformed whatever the cause, so a second such copy is refused; HTML
may legally omit `</html>`, so a page is accepted when both copies are byte-identical (a server
that resets at the very same byte every time is indistinguishable from one that finished).
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

from scrapy.exceptions import IgnoreRequest

_ROOT = re.compile(rb"<([A-Za-z][\w:.-]*)")  # the first element: prolog, doctype and comments start <? or <!
_TAIL = 2048


class TruncatedBody(IgnoreRequest):
    """A close-delimited body that ended mid-document, twice differently."""


def ends_whole(body: bytes) -> bool:
    """True when the document's root element is closed near the end of the body."""
    m = _ROOT.search(body[:8192])
    return m is not None and b"</" + m.group(1).lower() in body[-_TAIL:].lower()


def _kind(response: Any) -> str | None:
    """"html", "xml", or None for bodies this check does not judge (JSON, text, images)."""
    ctype = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
    if not ctype or "html" in ctype:
        return "html"
    return "xml" if any(k in ctype for k in ("xml", "rss", "atom")) else None


class CloseDelimitedCheck:
    """Downloader middleware, placed after decompression (HttpCompressionMiddleware is 590)."""

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        kind = _kind(response) if "partial" in response.flags else None
        if kind is None or ends_whole(response.body):
            return response
        digest = hashlib.sha256(response.body).hexdigest()
        first = request.meta.get("close_delimited_sha256")
        if first is None:
            return request.replace(dont_filter=True, meta={**request.meta, "close_delimited_sha256": digest})
        if kind == "html" and first == digest:
            return response
        raise TruncatedBody(f"truncated response: {response.url} has no length and ended mid-document "
                            "twice; nothing was stored from it")
