"""One-click unsubscribe (RFC 8058), open without a session: the URL behind every digest's
List-Unsubscribe header.

GET shows a confirmation button and never unsubscribes (mail scanners follow links). POST with
`List-Unsubscribe=One-Click`, urlencoded or multipart/form-data (RFC 8058 §3.2 allows both),
unsubscribes idempotently and answers 200 without a redirect. The body is read with a size cap and
a deadline (REDTEAM R3, R4); an unknown token is answered from a read, never taking the write lock
(R14).
"""
from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from pipelines import subscribers

router = APIRouter(include_in_schema=False)

TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
MAX_BODY = 4096
BODY_TIMEOUT_S = 10.0
ONE_CLICK = ("List-Unsubscribe", "One-Click")


def _page(status: int, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!DOCTYPE html><meta charset=utf-8><title>Scrutineer</title><p>{body}</p>",
                        status_code=status, headers={"Cache-Control": "no-store"})


async def _read_body(request: Request) -> bytes | None:
    """At most MAX_BODY bytes within BODY_TIMEOUT_S; None when longer."""
    chunks: list[bytes] = []
    size = 0

    async def collect() -> bool:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return False
            chunks.append(chunk)
        return True

    if not await asyncio.wait_for(collect(), BODY_TIMEOUT_S):
        return None
    return b"".join(chunks)


async def _is_one_click(headers: Headers, body: bytes) -> bool:
    ctype = headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        async def stream():
            yield body
            yield b""

        try:
            form = await MultiPartParser(headers, stream(), max_files=0, max_fields=8,
                                         max_part_size=MAX_BODY).parse()
        except (MultiPartException, ValueError):
            return False
        return form.get(ONE_CLICK[0]) == ONE_CLICK[1]
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        return False
    return parse_qs(text, max_num_fields=8).get(ONE_CLICK[0]) == [ONE_CLICK[1]]


@router.get("/unsubscribe/{token}")
def confirm(token: str) -> Response:
    if not TOKEN.match(token):
        return _page(404, "Unknown link.")
    return _page(200, f'<form method="post" action="/unsubscribe/{token}">'
                      '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
                      '<button type="submit">Unsubscribe from the Scrutineer digest</button></form>')


@router.post("/unsubscribe/{token}")
async def one_click(request: Request, token: str) -> Response:
    try:
        body = await _read_body(request)
    except TimeoutError:
        return _page(408, "The request body did not arrive in time.")
    if body is None:
        return _page(413, "Request body too large.")
    if not TOKEN.match(token):
        return _page(404, "Unknown link.")
    if not await _is_one_click(request.headers, body):
        return _page(400, "Expected the one-click body List-Unsubscribe=One-Click.")
    if await run_in_threadpool(subscribers.unsubscribe, request.app.state.settings, token) is None:
        return _page(404, "Unknown link.")
    return _page(200, "You are unsubscribed. No further digests will be sent.")
