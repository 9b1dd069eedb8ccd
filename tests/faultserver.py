"""A raw-socket HTTP server that misbehaves on purpose, for the reliability rows T05–T09, T14, T32.

pytest-httpserver answers politely; the faults here live below HTTP's politeness (a trickle, a
reset mid-body, a Content-Length that lies, broken chunking, a server that never reads), so they
are written byte by byte, in the spirit of Scrapy's tests/mockserver (`Partial`, `Drop`,
`BrokenChunkedResource`, `ForeverTakingResource`). Each connection gets its own daemon thread;
every loop ends when the client goes away, when the server stops, or after MAX_LIFETIME seconds.
Paths not routed (robots.txt included) answer 404, which RFC 9309 reads as "crawl allowed".
"""
from __future__ import annotations

import functools
import socket
import ssl
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import brotli

MiB = 1024 * 1024
#: No connection thread outlives this, whatever the client does.
MAX_LIFETIME = 120.0
CHUNK = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class Conn:
    """One accepted connection; `send` counts bytes per path so tests can see early disconnects."""

    def __init__(self, server: FaultServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.path = ""
        self.started = time.monotonic()

    def expired(self) -> bool:
        return self.server.stopping.is_set() or time.monotonic() - self.started > MAX_LIFETIME

    def send(self, data: bytes) -> bool:
        """False once the client has gone (reset, closed) or the server is stopping."""
        if self.expired():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        with self.server.lock:
            self.server.bytes_sent[self.path] += len(data)
        return True

    def wait_for_close(self, step: float = 0.2) -> None:
        """Block until the client hangs up (or the server stops); reads and discards anything sent."""
        self.sock.settimeout(step)
        while not self.expired():
            try:
                if not self.sock.recv(4096):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def sleep(self, seconds: float) -> bool:
        """Sleep, waking early if the server stops; False if it did."""
        return not self.server.stopping.wait(seconds) and not self.expired()

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0) rather than a FIN, as a crashed peer would."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()


Handler = Callable[[Conn, Request], None]


def head(status: int = 200, headers: dict[str, str] | None = None, reason: str = "X") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class FaultServer:
    """Routes paths to fault handlers; `never_read` accepts connections and never reads a byte."""

    def __init__(self, host: str = "127.0.0.1", *, never_read: bool = False,
                 ssl_context: ssl.SSLContext | None = None, port: int = 0) -> None:
        self.host = host
        self.never_read = never_read
        self.ssl_context = ssl_context
        self.routes: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()
        self.connections = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []

    def url(self, path: str, host: str | None = None) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> FaultServer:
        t = threading.Thread(target=self._accept_loop, name=f"faultserver-{self.port}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for t in list(self._threads):
            t.join(timeout=5)
        self._sock.close()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            t.start()
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _serve(self, sock: socket.socket) -> None:
        conn = Conn(self, sock)
        try:
            if self.never_read:
                while conn.sleep(0.2):  # hold the connection open; the request stays unread
                    pass
                return
            if self.ssl_context is not None:
                sock.settimeout(10)
                try:
                    conn.sock = sock = self.ssl_context.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused our certificate or protocol: that is the test
            request = self._read_request(sock)
            if request is None:
                return
            conn.path = request.path
            with self.lock:
                self.hits[request.path] += 1
            sock.settimeout(10)
            handler = self.routes.get(request.path.split("?")[0], not_found)
            handler(conn, request)
        except OSError:
            pass
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    @staticmethod
    def _read_request(sock: socket.socket) -> Request | None:
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk or len(data) > 64 * 1024:
                return None
            data += chunk
        lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return Request(method, path, headers)


# -- handlers ---------------------------------------------------------------------------------
def not_found(conn: Conn, req: Request) -> None:
    conn.send(head(404, {"Content-Length": "0"}))


def respond(body: bytes, status: int = 200, content_type: str = "application/rss+xml",
            headers: dict[str, str] | None = None) -> Handler:
    """A well-formed answer (the control case, and the 'server fixed' state)."""
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(status, {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})})
                  + body)
    return handler


def silence() -> Handler:
    """(T07a) Read the request, then say nothing at all until the client gives up."""
    def handler(conn: Conn, req: Request) -> None:
        conn.wait_for_close()
    return handler


def trickle(interval: float, length: int = 1_000_000) -> Handler:
    """(T07b) Headers at once, then one body byte every `interval` s: a per-read timeout never fires."""
    def handler(conn: Conn, req: Request) -> None:
        if not conn.send(head(200, {"Content-Type": "application/rss+xml", "Content-Length": str(length)})):
            return
        conn.sock.setblocking(True)
        for _ in range(length):
            if not conn.sleep(interval) or not conn.send(b" "):
                return
    return handler


def reset_mid_body(body: bytes, after: int) -> Handler:
    """(T08) Promise len(body) bytes, send `after` of them, then RST the connection."""
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(200, {"Content-Type": "application/rss+xml", "Content-Length": str(len(body))}) + body[:after])
        time.sleep(0.05)
        conn.reset()
    return handler


def close_delimited(body: bytes, after: Sequence[int] = (), content_type: str = "application/rss+xml") -> Handler:
    """(T08) No Content-Length, not chunked: the body ends when the connection does. With `after`,
    the n-th request gets after[n % len(after)] bytes and a RST (a server crashing mid-body, not
    always at the same byte); without, the whole body and a clean FIN."""
    served = [0]

    def handler(conn: Conn, req: Request) -> None:
        cut = after[served[0] % len(after)] if after else None
        served[0] += 1
        conn.send(head(200, {"Content-Type": content_type, "Connection": "close"}) + body[:cut])
        if cut is None:
            conn.sock.shutdown(socket.SHUT_WR)
        else:
            time.sleep(0.05)
            conn.reset()
    return handler


def short_body(body: bytes, claimed: int) -> Handler:
    """(T08, Scrapy's `Partial`) Content-Length says `claimed`, fewer bytes come, then a clean FIN."""
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(200, {"Content-Type": "application/rss+xml", "Content-Length": str(claimed)}) + body)
        conn.sock.shutdown(socket.SHUT_WR)
    return handler


def broken_chunked(body: bytes) -> Handler:
    """(T08, Scrapy's `BrokenChunkedResource`) A good first chunk, then a chunk-size line that is not hex."""
    def handler(conn: Conn, req: Request) -> None:
        half = body[: len(body) // 2]
        conn.send(head(200, {"Content-Type": "application/rss+xml", "Transfer-Encoding": "chunked"})
                  + f"{len(half):x}\r\n".encode() + half + b"\r\nzz-not-hex\r\n" + body[len(half):])
        conn.sock.shutdown(socket.SHUT_WR)
    return handler


def endless_chunked(content_type: str = "application/rss+xml") -> Handler:
    """(T05) Chunked zeros with no length, until the client hangs up."""
    piece = f"{CHUNK:x}\r\n".encode() + bytes(CHUNK) + b"\r\n"

    def handler(conn: Conn, req: Request) -> None:
        if not conn.send(head(200, {"Content-Type": content_type, "Transfer-Encoding": "chunked"})):
            return
        while conn.send(piece):
            pass
    return handler


def zeros(length: int = 200 * MiB, content_type: str = "application/rss+xml") -> Handler:
    """(T05) An honest Content-Length of `length` and that many zeros, unless the client hangs up."""
    block = bytes(CHUNK)

    def handler(conn: Conn, req: Request) -> None:
        if not conn.send(head(200, {"Content-Type": content_type, "Content-Length": str(length)})):
            return
        left = length
        while left > 0 and conn.send(block[: min(CHUNK, left)]):
            left -= CHUNK
    return handler


def redirect(location: str | None, status: int = 302) -> Handler:
    """(T09) A redirect; `None` leaves the Location header out."""
    def handler(conn: Conn, req: Request) -> None:
        headers = {"Content-Length": "0"}
        if location is not None:
            headers["Location"] = location
        conn.send(head(status, headers))
    return handler


def encoded(blob: bytes, encoding: str | None, content_type: str = "application/rss+xml") -> Handler:
    """(T06) A pre-compressed body, with `Content-Encoding: encoding` (or none, for .xml.gz files)."""
    def handler(conn: Conn, req: Request) -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(len(blob))}
        if encoding:
            headers["Content-Encoding"] = encoding
        if conn.send(head(200, headers)):
            view = memoryview(blob)
            for i in range(0, len(blob), CHUNK):
                if not conn.send(bytes(view[i:i + CHUNK])):
                    return
    return handler


# -- decompression bombs ----------------------------------------------------------------------
@functools.cache
def _repeated_deflate(size: int) -> tuple[bytes, int, int]:
    """Raw deflate of `size` zero bytes, built from one full-flushed 1 MiB block repeated.

    A Z_FULL_FLUSH resets the compressor's history, so every later identical block compresses
    to identical bytes; compressing 1 GiB for real takes seconds, this takes milliseconds.
    Returns (raw deflate, crc32, adler32) of the expanded data."""
    block = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    assert size % MiB == 0 and size >= 2 * MiB
    raw = first + again * (size // MiB - 1) + c.flush()
    crc, adler = 0, 1
    for _ in range(size // MiB):
        crc, adler = zlib.crc32(block, crc), zlib.adler32(block, adler)
    return raw, crc, adler


@functools.cache
def bomb(encoding: str, size: int = 1024 * MiB) -> bytes:
    """`size` zero bytes compressed as `gzip` (also a .xml.gz file), `deflate` (zlib) or `br`."""
    if encoding == "br":
        c = brotli.Compressor(quality=1)
        block = bytes(MiB)
        return b"".join([c.process(block) for _ in range(size // MiB)] + [c.finish()])
    raw, crc, adler = _repeated_deflate(size)
    if encoding == "gzip":
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + struct.pack("<II", crc, size & 0xFFFFFFFF)
    if encoding == "deflate":
        return b"\x78\xda" + raw + struct.pack(">I", adler)
    raise ValueError(encoding)


def expanded_size(blob: bytes, encoding: str, limit: int = 2048 * MiB) -> int:
    """How many bytes `blob` really expands to (streamed, bounded): proves a bomb is a bomb."""
    total = 0
    if encoding == "br":
        d = brotli.Decompressor()
        out = d.process(blob, output_buffer_limit=16 * MiB)
        total += len(out)
        while not d.is_finished() and total < limit:
            out = d.process(b"", output_buffer_limit=16 * MiB)
            if not out:
                break
            total += len(out)
        return total
    z = zlib.decompressobj(31 if encoding == "gzip" else 15)
    data = blob
    while total < limit:
        out = z.decompress(data, 16 * MiB)
        total += len(out)
        data = z.unconsumed_tail
        if z.eof or (not data and not out):
            break
    return total


# -- the OK⁺ assertion (RELIABILITY.md), shared by the T05–T09, T13, T14 tests -------------------
def rss(name: str, items: int = 2, link_base: str | None = None) -> bytes:
    """A small valid RSS 2.0 feed about the story, `items` entries, guids unique to `name`."""
    entries = "".join(
        f"<item><title>{name} report {i}: Met Police Palantir pilot extended</title>"
        f"<guid isPermaLink='false'>{name}-{i}</guid>"
        + (f"<link>{link_base}/{name}/{i}</link>" if link_base else "")
        + f"<description>The Metropolitan Police kept its Palantir pilot for twelve months ({name} {i}).</description>"
        "<pubDate>Fri, 20 Nov 2026 09:30:00 GMT</pubDate></item>" for i in range(items))
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{name}</title>"
            f"<link>http://example.invalid/</link><description>t</description>{entries}</channel></rss>").encode()


def cli(db: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Any:
    """`scrutineer ARGS --db DB` in a subprocess, as a user or Airflow would run it."""
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "scrutineer.cli", *args, "--db", db], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def import_sources(db: str, tmp: Any, entries: list[dict[str, Any]]) -> None:
    import yaml

    path = tmp / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": entries}))
    proc = cli(db, "sources", "import", str(path))
    assert proc.returncode == 0, proc.stderr


def collect(db: str, *names: str, timeout: float = 120, env: dict[str, str] | None = None) -> Any:
    """`scrutineer collect`: exit 0, and no traceback whatever the sources did (CONTRACT.md)."""
    args = [a for n in names for a in ("--source", n)]
    proc = cli(db, "collect", *args, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc


def assert_ok_plus(db: str, faulty: dict[str, str], good: dict[str, int]) -> dict[str, dict[str, Any]]:
    """RELIABILITY.md OK⁺: each faulty source shows `last error` containing its expected words,
    each good source was collected normally (its `good[name]` articles, no error), no article
    came from a faulty source, no duplicate rows, and SQLite's integrity_check says ok."""
    import json
    import sqlite3

    proc = cli(db, "sources", "list", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    listing = {s["name"]: s for s in (json.loads(line) for line in proc.stdout.splitlines() if line.strip())}
    for name, words in faulty.items():
        message = (listing[name]["last_error_message"] or "").lower()
        assert listing[name]["last_error"] is not None, (name, listing[name])
        assert words.lower() in message, (name, message)
    for name in good:  # collected, and its last pass was not an error (it may have failed earlier)
        s = listing[name]
        assert s["last_success"] is not None and (s["last_error"] is None or s["last_success"] > s["last_error"]), s
    proc = cli(db, "export", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    per_source = Counter(r["source"] for r in records)
    for name, count in good.items():
        assert per_source[name] == count, (name, per_source)
    assert not set(per_source) & set(faulty), per_source
    assert len({r["id"] for r in records}) == len(records)
    assert len({r["canonical_url"] for r in records}) == len(records)
    with sqlite3.connect(db.split("///", 1)[1]) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return listing
