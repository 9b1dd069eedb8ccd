"""Serving the console with uvicorn, bounded: header and body read deadlines, connection caps.

uvicorn arms no timer on a fresh connection and none while headers trickle in, so an idle or slow
client holds its socket forever (REDTEAM R4). GuardedHttpTools closes a connection whose request
headers are not complete within HEADER_TIMEOUT_S of its first byte or of its opening.
"""
from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_S = 10.0
#: More than any plausible number of idle sockets an attacker keeps open within HEADER_TIMEOUT_S
#: on this scale of deployment; beyond it uvicorn answers 503 rather than queueing.
LIMIT_CONCURRENCY = 1000
KEEP_ALIVE_S = 5


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for receiving a request's headers."""

    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._header_timeout)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # a new request is starting: its headers must arrive in time
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def config(app: Any, host: str = "127.0.0.1", port: int = 8000, **kw: Any) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, http=GuardedHttpTools, lifespan="off",
                          limit_concurrency=LIMIT_CONCURRENCY, timeout_keep_alive=KEEP_ALIVE_S,
                          server_header=False, log_level="warning", access_log=False, **kw)


class AppServer:
    """A uvicorn server on a socket bound up front, run in a thread: the shape of
    http.server's servers (server_address, serve_forever, shutdown, server_close), so the
    unsubscribe alias and tests drive it the same way."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(2048)
        self.socket.set_inheritable(True)
        self.server_address = self.socket.getsockname()
        self.server = uvicorn.Server(config(app, host=host, port=self.server_address[1]))
        self._done = threading.Event()

    def serve_forever(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self._done.set()

    def start(self) -> AppServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        while not self.server.started and not self._done.is_set():
            self._done.wait(0.02)
        return self

    def shutdown(self) -> None:
        self.server.should_exit = True
        self._done.wait(15)

    def server_close(self) -> None:
        self.socket.close()

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"
