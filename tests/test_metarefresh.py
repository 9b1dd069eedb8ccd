"""crawlers/metarefresh.py: reading only a big page's head changes no redirect decision."""
from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawlers.metarefresh import HEAD_BYTES, HeadMetaRefreshMiddleware

FILLER = "<p>" + "The ferry timetable for the winter months was printed in the parish newsletter. " * 900 + "</p>"


def _page(head: str, body_extra: str = "") -> bytes:
    return f"<html><head><title>Notice</title>{head}</head><body>{FILLER}{body_extra}</body></html>".encode()


@pytest.mark.parametrize("head, tail, redirects", [
    ("<meta http-equiv='refresh' content='0; url=/moved'>", "", True),
    ("", "", False),
    # Scrapy reads the first 4096 characters only: a refresh deep in the body never counted.
    ("", "<meta http-equiv='refresh' content='0; url=/late'>", False),
])
def test_big_pages_decide_as_scrapy_does(head: str, tail: str, redirects: bool) -> None:
    body = _page(head, tail)
    assert len(body) > 2 * HEAD_BYTES
    request = Request("http://news.example/notice")
    ours = HeadMetaRefreshMiddleware.from_crawler(get_crawler()).process_response(
        request, HtmlResponse(request.url, body=body, headers={"Content-Type": "text/html"}, request=request))
    theirs = MetaRefreshMiddleware.from_crawler(get_crawler()).process_response(
        request, HtmlResponse(request.url, body=body, headers={"Content-Type": "text/html"}, request=request))
    assert isinstance(ours, Request) == isinstance(theirs, Request) == redirects
    if redirects:
        assert ours.url == theirs.url == "http://news.example/moved"
