"""A loopback site with many feeds and article pages, plus faulty feeds, for the load and
concurrency rows (T30, T31, T34) and `bench/load.py`.

Everything is generated from (feed, item) numbers with a seeded RNG, so the expected set of
stored URLs is known without a database. The server counts requests in flight, per source and
overall, so a test can check that crawls keep to their per-host concurrency setting. Faulty
feeds are the byte-level kinds of T05–T09 (huge body, never answers, reset, redirect loop, 500s);
each handler is bounded, so a server never outlives its test by more than its own deadline.
"""
from __future__ import annotations

import html
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

FAULT_KINDS = ("huge", "silent", "reset", "redirect-loop", "http500")
#: What `sources list` should say for each fault kind (any one of the words will do).
FAULT_WORDS = {"huge": ("too large", "maxsize", "max size"), "silent": ("timed out", "timeout", "took longer"),
               "reset": ("truncated", "reset", "connection", "lost", "dataloss"),
               "redirect-loop": ("redirect",), "http500": ("500",)}
#: A silent or huge handler gives up after this long even if the client never does.
HANDLER_DEADLINE_S = 60.0
HUGE_BYTES = 200 * 1024 * 1024

_ADJ = ("quiet", "late", "new", "local", "broad", "early", "costly", "small", "public", "long", "careful",
        "sudden", "formal", "modest", "open", "fresh", "narrow", "rival", "joint", "weekly")
_NOUN = ("council", "budget", "bridge", "harbour", "market", "library", "festival", "school", "railway",
         "hospital", "museum", "garden", "tenant", "ferry", "orchard", "bakery", "theatre", "stadium",
         "reservoir", "college", "canal", "clinic", "depot", "gallery", "warehouse", "parish", "charity")
_VERB = ("reviewed", "delayed", "approved", "questioned", "funded", "opened", "closed", "welcomed",
         "rejected", "extended", "inspected", "praised", "challenged", "rebuilt", "moved", "audited")
_PLACE = ("Ashford", "Bexley", "Carlisle", "Dorking", "Ely", "Frome", "Goole", "Hexham", "Ilkley", "Jarrow",
          "Keswick", "Ludlow", "Malton", "Newark", "Oakham", "Penrith", "Ripon", "Selby", "Thirsk", "Ware")
_DAY = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: One item in five is on the watched topic, so the digest has stories to carry.
_TOPIC = ("The Metropolitan Police said its {adj} review of the Palantir pilot in {place} would report soon, "
          "and officers defended live facial recognition as the {noun} debate went on.")


def _sentence(rng: random.Random) -> str:
    return (f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} in {rng.choice(_PLACE)} {rng.choice(_VERB)} the "
            f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} plan on {rng.choice(_DAY)} after {rng.randint(2, 990)} "
            f"residents wrote to the {rng.choice(_NOUN)} board.")


@dataclass(frozen=True)
class Item:
    feed: int
    number: int
    title: str
    summary: str
    body: list[str]
    published: datetime


def item(feed: int, number: int, week_start: datetime, paragraphs: int = 6) -> Item:
    """Item `number` of feed `feed`: distinct title and text (never a near-duplicate of another)."""
    rng = random.Random(feed * 100_003 + number)
    on_topic = (feed + number) % 5 == 0
    title = (f"{rng.choice(_PLACE)} {rng.choice(_NOUN)} {rng.choice(_VERB)} "
             f"(report {feed}-{number}, {rng.choice(_ADJ)} {rng.choice(_NOUN)})")
    if on_topic:
        title = f"Met Police and Palantir: {title}"
    lead = _TOPIC.format(adj=rng.choice(_ADJ), place=rng.choice(_PLACE), noun=rng.choice(_NOUN)) if on_topic \
        else _sentence(rng)
    summary = f"{lead} {_sentence(rng)}"
    body = [" ".join([lead if p == 0 else _sentence(rng)] + [_sentence(rng) for _ in range(3)])
            for p in range(paragraphs)]
    published = week_start + timedelta(hours=6, minutes=(feed * 53 + number * 97) % (6 * 24 * 60))
    return Item(feed, number, title, summary, body, published)


@dataclass
class Plan:
    """How big the site is: `feeds` good feeds of `items` each, the first `full_text` of them
    with follow_links (one article page per item), and one faulty feed per entry of `faults`."""

    feeds: int
    items: int
    full_text: int = 0
    faults: tuple[str, ...] = ()
    week_start: datetime = field(default_factory=lambda: _default_week_start())

    @property
    def pages(self) -> int:
        return self.full_text * self.items

    @property
    def good_items(self) -> int:
        return self.feeds * self.items


def _default_week_start() -> datetime:
    from core import weeks

    return weeks.window(weeks.last_complete_week())[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    site: LoadSite

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that are killed or cut a response short reset their sockets: expected here."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet: thousands of requests
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        site = self.server.site
        # In flight per source (its path prefix) and per host (the Host header: Scrapy's slot key).
        # Faulty handlers hold their connection long after the client gave up (that is the fault),
        # so they would count as "in flight" when the crawler has none open: the host figure counts
        # good paths only.
        keys: tuple[str, ...] = ("source:" + (self.path.split("/")[2] if self.path.count("/") >= 3 else "-"),)
        if not self.path.startswith("/bad/"):
            keys += ("host:" + (self.headers.get("Host") or "").rsplit(":", 1)[0],)
        site.enter(keys, self.path)
        try:
            site.route(self, self.path)
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            self.close_connection = True
        finally:
            site.leave(keys)

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LoadSite:
    """The site and its loopback server (`with LoadSite(plan) as site:`)."""

    def __init__(self, plan: Plan, host: str = "127.0.0.1") -> None:
        self.plan = plan
        self.host = host
        self.hits: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.total_in_flight = 0
        self.max_total_in_flight = 0
        self.huge_bytes_sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> LoadSite:
        server = _Server((self.host, 0), _Handler)
        server.site = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    # -- the registry side ----------------------------------------------------------------
    @staticmethod
    def feed_name(i: int) -> str:
        return f"load-{i:03d}"

    @staticmethod
    def fault_name(n: int, kind: str) -> str:
        return f"faulty-{n:02d}-{kind}"

    def faulty_sources(self) -> dict[str, str]:
        """name → fault kind."""
        return {self.fault_name(n, kind): kind for n, kind in enumerate(self.plan.faults)}

    def sources(self) -> list[dict[str, Any]]:
        out = [{"name": self.feed_name(i), "kind": "rss", "url": f"{self.base}/f/{i:03d}/feed.xml",
                "follow_links": i < self.plan.full_text, "tags": ["load"]} for i in range(self.plan.feeds)]
        out += [{"name": name, "kind": "rss", "url": f"{self.base}/bad/{kind}-{n:02d}/feed.xml",
                 "follow_links": False} for n, (name, kind) in enumerate(self.faulty_sources().items())]
        return out

    def write_sources_yaml(self, path: Path, names: list[str] | None = None) -> Path:
        chosen = [s for s in self.sources() if names is None or s["name"] in names]
        path.write_text(yaml.safe_dump({"sources": chosen}, sort_keys=False), encoding="utf-8")
        return path

    def item_url(self, feed: int, number: int) -> str:
        return f"{self.base}/f/{feed:03d}/a/{number:03d}.html"

    def expected_urls(self, feeds: range | None = None) -> set[str]:
        """The canonical URL of every good item (what 100% stored means)."""
        return {self.item_url(f, n) for f in (feeds or range(self.plan.feeds)) for n in range(self.plan.items)}

    # -- accounting -----------------------------------------------------------------------
    def enter(self, keys: tuple[str, ...], path: str) -> None:
        with self._lock:
            self.hits[path] += 1
            for key in keys:
                self.in_flight[key] += 1
                self.max_in_flight[key] = max(self.max_in_flight[key], self.in_flight[key])
            self.total_in_flight += 1
            self.max_total_in_flight = max(self.max_total_in_flight, self.total_in_flight)

    def leave(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            for key in keys:
                self.in_flight[key] -= 1
            self.total_in_flight -= 1

    def peak(self, prefix: str) -> int:
        """Most requests ever in flight at once for one source ("source:") or host ("host:")."""
        with self._lock:
            # "source:-" is robots.txt, shared by every source of a crawl process: not one source's.
            return max((n for k, n in self.max_in_flight.items() if k.startswith(prefix) and k != "source:-"),
                       default=0)

    def total_hits(self) -> int:
        return sum(self.hits.values())

    # -- content ----------------------------------------------------------------------------
    def route(self, h: _Handler, path: str) -> None:
        parts = path.split("?")[0].strip("/").split("/")
        if path == "/robots.txt":
            h.send_body(200, b"User-agent: *\nAllow: /\n", "text/plain")
        elif len(parts) == 3 and parts[0] == "f" and parts[2] == "feed.xml" and parts[1].isdigit():
            h.send_body(200, self.feed_xml(int(parts[1])), "application/rss+xml; charset=utf-8")
        elif len(parts) == 4 and parts[0] == "f" and parts[2] == "a" and parts[1].isdigit():
            number = parts[3].removesuffix(".html")
            if not number.isdigit() or int(number) >= self.plan.items:
                h.send_body(404, b"not found", "text/plain")
                return
            h.send_body(200, self.page_html(int(parts[1]), int(number)), "text/html; charset=utf-8")
        elif parts[0] == "bad" and len(parts) >= 2:
            self.fault(h, parts[1].rsplit("-", 1)[0], path)
        else:
            h.send_body(404, b"not found", "text/plain")

    def feed_xml(self, feed: int) -> bytes:
        entries = []
        for n in range(self.plan.items):
            it = item(feed, n, self.plan.week_start)
            entries.append(
                f"<item><title>{html.escape(it.title)}</title><link>{self.item_url(feed, n)}</link>"
                f"<guid isPermaLink=\"false\">load-{feed}-{n}</guid>"
                f"<pubDate>{format_datetime(it.published)}</pubDate>"
                f"<description>{html.escape(it.summary)}</description></item>")
        return ("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel>"
                f"<title>Load feed {feed}</title><link>{self.base}/f/{feed:03d}/</link>"
                f"<description>Generated feed {feed}</description>{''.join(entries)}</channel></rss>").encode()

    def page_html(self, feed: int, number: int) -> bytes:
        it = item(feed, number, self.plan.week_start)
        paras = "".join(f"<p>{html.escape(p)}</p>" for p in it.body)
        return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(it.title)}"
                f"</title><meta property=\"article:published_time\" content=\"{it.published.isoformat()}\">"
                f"</head><body><nav><a href=\"/\">Home</a></nav><article><h1>{html.escape(it.title)}</h1>"
                f"{paras}</article><footer>Load site {feed}</footer></body></html>").encode()

    # -- faults (T05–T09 kinds), each bounded by HANDLER_DEADLINE_S -------------------------
    def fault(self, h: _Handler, kind: str, path: str) -> None:
        if kind == "http500":
            h.send_body(500, b"internal error", "text/plain")
        elif kind == "redirect-loop":
            h.send_response(302)
            h.send_header("Location", path.replace("/feed.xml", "/loop.xml") if path.endswith("/feed.xml")
                          else path.replace("/loop.xml", "/feed.xml"))
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif kind == "silent":
            self._stop.wait(HANDLER_DEADLINE_S)  # never answers; the client's deadline must cut it
            h.close_connection = True
        elif kind == "reset":
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            h.wfile.write(b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>cut")
            h.wfile.flush()
            # SO_LINGER 0: close() sends RST instead of FIN (a reset mid-body).
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
        elif kind == "huge":
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Content-Length", str(HUGE_BYTES))
            h.end_headers()
            chunk = b"\0" * 65536
            deadline = time.monotonic() + HANDLER_DEADLINE_S
            sent = 0
            try:
                while sent < HUGE_BYTES and time.monotonic() < deadline and not self._stop.is_set():
                    h.wfile.write(chunk)
                    sent += len(chunk)
            finally:
                with self._lock:
                    self.huge_bytes_sent += sent
            h.close_connection = True
        else:
            h.send_body(404, b"unknown fault", "text/plain")


# -- harness helpers shared by the T30/T31/T34 tests and bench/load.py ------------------------------
def cli_env(db_url: str, **extra: str) -> dict[str, str]:
    """The environment a CLI subprocess gets: loopback allowed, short network deadlines."""
    import os

    env = {**os.environ, "SCRUTINEER_DB": db_url, "SCRUTINEER_ALLOW_PRIVATE_NETWORKS": "1",
           "SCRUTINEER_DOWNLOAD_TIMEOUT_S": "3", "SCRUTINEER_DOWNLOAD_MAXSIZE": str(1024 * 1024),
           "SCRUTINEER_CRAWL_TIMEOUT_S": "120"}
    env.pop("SCRUTINEER_TEST_FAULT", None)
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "scrutineer.cli", *args]


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (0 once it has gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def kill_tree(pid: int) -> None:
    """SIGKILL a CLI and every process below it, crawl subprocesses (own sessions) included:
    the harshest stop there is, as a machine or container dying would be."""
    import os
    import signal

    import psutil

    try:
        procs = [psutil.Process(pid)]
        procs[0].suspend()  # a stopped parent cannot start another crawl while we gather its tree
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL) if os.getpgid(p.pid) == p.pid else p.kill()
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            pass
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


# -- the T34 load scenario, shared by tests/test_t34_load.py and bench/load.py ---------------------
@dataclass
class LoadReport:
    plan: Plan
    wall_s: dict[str, float]
    cpu_s: dict[str, float]
    peak_rss: dict[str, int]
    exit_codes: dict[str, int]
    stderr: dict[str, str]
    stored_good: int
    missing_good: int
    extra_rows: int
    faulty_reported: dict[str, str | None]
    sink_messages: int
    sink_recipients: int
    peak_per_source: int
    peak_per_host: int
    per_domain_setting: int
    unscored_by_textblob: int
    huge_bytes_sent: int

    @property
    def total_s(self) -> float:
        return self.wall_s["run"] + self.wall_s["digest"]

    def lines(self) -> list[str]:
        p = self.plan
        mib = 1024 * 1024
        return [
            f"load: {p.feeds + len(p.faults)} feeds ({len(p.faults)} faulty) x {p.items} items, {p.pages} pages, "
            f"100 subscribers",
            f"load: run {self.wall_s['run']:.1f} s wall, {self.cpu_s['run']:.0f} s CPU (collect part "
            f"~{self.wall_s['collect']:.0f} s), peak RSS {self.peak_rss['run'] / mib:.0f} MiB",
            f"load: digest --send {self.wall_s['digest']:.1f} s wall, {self.cpu_s['digest']:.0f} s CPU, "
            f"peak RSS {self.peak_rss['digest'] / mib:.0f} MiB",
            f"load: total {self.total_s:.1f} s; peak RSS {max(self.peak_rss.values()) / mib:.0f} MiB "
            f"(process tree, sampled every 0.1 s)",
            f"load: good items stored {self.stored_good}/{p.good_items}, faulty reported "
            f"{sum(1 for m in self.faulty_reported.values() if m)}/{len(self.faulty_reported)}, "
            f"messages in sink {self.sink_messages}",
            f"load: peak requests in flight per source {self.peak_per_source}, per host {self.peak_per_host} "
            f"(CONCURRENT_REQUESTS_PER_DOMAIN {self.per_domain_setting})",
        ]


@dataclass
class Sample:
    code: int
    stderr: str
    wall_s: float
    peak_rss: int
    cpu_s: float
    #: Seconds until the last subprocess below the command exited (for `run`: the collect part).
    children_until_s: float


def _sampled(cmd: list[str], env: dict[str, str], timeout: float, interval: float = 0.1) -> Sample:
    """Run a command to completion, sampling the resident memory of its whole process tree."""
    import resource
    import subprocess

    import psutil

    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, children_until = 0, 0.0
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else b""), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        try:
            if psutil.Process(proc.pid).children():
                children_until = time.monotonic() - began
        except psutil.NoSuchProcess:
            pass
        if time.monotonic() - began > timeout:
            kill_tree(proc.pid)
            proc.wait()
            break
        time.sleep(interval)
    code = proc.wait()
    wall = time.monotonic() - began
    reader.join(timeout=10)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return Sample(code, b"".join(err).decode("utf-8", "replace")[-3000:], wall, peak, cpu, children_until)


def run_load(plan: Plan, workdir: Path, subscribers: int = 100, timeout: float = 900) -> LoadReport:
    """Serve `plan`, register its sources and `subscribers` subscribers, then time and measure
    `scrutineer run` and `scrutineer digest --send` (to an aiosmtpd sink) as a user would run them."""
    import json
    import subprocess

    from sqlalchemy import func, select

    from core import weeks
    from core.settings import Settings
    from crawlers import settings as crawl_settings
    from demo.smtp_sink import SmtpSink
    from pipelines import subscribers as subs
    from storage.db import get_engine, read
    from storage.schema import articles

    db = f"sqlite:///{workdir / 'scrutineer.sqlite'}"
    week = weeks.week_of(plan.week_start)
    wall: dict[str, float] = {}
    peak: dict[str, int] = {}
    codes: dict[str, int] = {}
    errs: dict[str, str] = {}
    cpu: dict[str, float] = {}
    with LoadSite(plan) as site, SmtpSink() as sink:
        # NLTK_DATA names an empty directory: TextBlob must score without any downloaded corpus.
        (workdir / "no-nltk-data").mkdir(exist_ok=True)
        env = cli_env(db, SCRUTINEER_SMTP_URL=sink.url, SCRUTINEER_CRAWL_TIMEOUT_S=str(timeout),
                      NLTK_DATA=str(workdir / "no-nltk-data"))
        done = subprocess.run(cli_command("sources", "import", str(site.write_sources_yaml(workdir / "s.yaml"))),
                              env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"sources import failed: {done.stderr[-500:]}")
        settings = Settings(db=db)
        profiles = ("analyst", "rights", "vendor")
        for n in range(subscribers):
            subs.add(settings, f"reader{n:03d}@example.org", profiles[n % 3], name=f"Reader {n}")
        for step, args in (("run", ["run"]), ("digest", ["digest", "--week", week, "--send"])):
            got = _sampled(cli_command(*args), env, timeout)
            codes[step], errs[step], wall[step], peak[step], cpu[step] = (got.code, got.stderr, got.wall_s,
                                                                          got.peak_rss, got.cpu_s)
            if step == "run":
                wall["collect"] = got.children_until_s
        listing = subprocess.run(cli_command("sources", "list", "--format", "json"), env=env, capture_output=True,
                                 text=True, timeout=120)
        health = {r["name"]: r for r in map(json.loads, listing.stdout.splitlines())}
        good = {site.feed_name(i) for i in range(plan.feeds)}
        expected = site.expected_urls()
        with read(get_engine(db)) as conn:
            stored = {r[0] for r in conn.execute(select(articles.c.canonical_url)
                                                 .where(articles.c.source.in_(sorted(good))))}
            total = conn.execute(select(func.count()).select_from(articles)).scalar() or 0
            unscored = conn.execute(select(func.count()).select_from(articles).where(
                articles.c.sentiment_flag.is_(None), articles.c.textblob_polarity.is_(None))).scalar() or 0
        return LoadReport(
            plan=plan, wall_s=wall, cpu_s=cpu, peak_rss=peak, exit_codes=codes, stderr=errs,
            stored_good=len(stored & expected), missing_good=len(expected - stored), extra_rows=total - len(stored),
            faulty_reported={name: (health.get(name) or {}).get("last_error_message")
                             for name in site.faulty_sources()},
            sink_messages=len(sink.messages), sink_recipients=len(sink.by_recipient),
            peak_per_source=site.peak("source:"),
            peak_per_host=site.peak("host:"), per_domain_setting=int(crawl_settings.CONCURRENT_REQUESTS_PER_DOMAIN),
            unscored_by_textblob=unscored, huge_bytes_sent=site.huge_bytes_sent)
