"""One-click unsubscribe (RFC 8058): the HTTPS endpoint behind every digest's List-Unsubscribe.

The route lives in the console app (console/unsubscribe.py); `scrutineer unsubscribe-server`
serves that same app with uvicorn's bounds (header and body deadlines, body caps). `server()`
keeps the http.server-like shape (server_address, serve_forever, shutdown, server_close).
"""
from __future__ import annotations

from typing import Any

from pipelines.settings import Settings

MAX_BODY = 4096


def server(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> Any:
    """The console app on a bound socket (imported here: console is the layer above pipelines)."""
    from console.app import create_app
    from console.server import AppServer

    return AppServer(create_app(settings), host, port)
