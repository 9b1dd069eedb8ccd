"""One-click unsubscribe (RFC 8058): the HTTPS endpoint behind every digest's List-Unsubscribe.

GET shows a confirmation form and never unsubscribes (mail scanners follow links); POST with the
body `List-Unsubscribe=One-Click` unsubscribes, idempotently, answering 200 without a redirect
(RFC 8058 §3.2). Tokens are opaque, random and per subscriber; short or unknown ones get 404.
Run it behind a TLS-terminating proxy: `scrutineer unsubscribe-server`.
"""
from __future__ import annotations

import html
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipelines import subscribers
from pipelines.settings import Settings

_PATH = re.compile(r"^/unsubscribe/([A-Za-z0-9_-]{32,128})$")
MAX_BODY = 4096


def make_handler(settings: Settings) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "Scrutineer"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

        def _reply(self, status: int, body: str) -> None:
            data = f"<!DOCTYPE html><meta charset=utf-8><title>Scrutineer</title><p>{body}</p>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _token(self) -> str | None:
            m = _PATH.match(self.path.split("?", 1)[0])
            return m.group(1) if m else None

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            token = self._token()
            if token is None:
                self._reply(404, "Unknown link.")
                return
            self._reply(200, f'<form method="post" action="/unsubscribe/{html.escape(token)}">'
                             '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
                             '<button type="submit">Unsubscribe from the Scrutineer digest</button></form>')

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            token = self._token()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_BODY)).decode("ascii", "replace") if length else ""
            if token is None:
                self._reply(404, "Unknown link.")
                return
            if body.strip() != "List-Unsubscribe=One-Click":
                self._reply(400, "Expected the one-click body List-Unsubscribe=One-Click.")
                return
            if subscribers.unsubscribe(settings, token) is None:
                self._reply(404, "Unknown link.")
                return
            self._reply(200, "You are unsubscribed. No further digests will be sent.")

    return Handler


def server(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(settings))
