"""`python -m bench.realcrawl [DIR]`: what `collect` costs per real news page, next to bare trafilatura.

The demo newsroom's pages are small, so the machinery around extraction (moving pages to workers,
decoding, compressing the raw snapshot, storing) looks cheap there. This bench serves real pages
from public extraction benchmarks (the ones `make bench-extraction` downloads, under DIR or
$EXTRACTION_BENCH, default ../extraction-bench), each COPIES times under its own URL, behind one
loopback sitemap, and measures three figures of issue 17, side by side in every round:

- CPU per page: the CPU of the whole `collect` process tree (its rusage as a waited child, which
  includes the crawl process and its extraction workers), as the slope between a run over each
  page once and a run over every copy, divided by a bare `trafilatura.extract` loop's CPU per
  page over the same bytes (target <= 1.3);
- fixed CPU of one collect: a collect of a one-page sitemap, less that page at the slope
  (target <= 2 s); the slope line's intercept at zero pages is printed too (noisier);
- collect + process pages/s (wall) over the bare loop's pages/s on one core (target >= 0.9).

The bare loop is timed before and after each round and averaged; figures are medians of ROUNDS.
"""
from __future__ import annotations

import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent  # the source checkout these run from
COPIES = 5
ROUNDS = 3


def bench_dir() -> Path:
    return Path(os.environ.get("EXTRACTION_BENCH") or PROJECT_DIR.parent / "extraction-bench")


def find_pages(root: Path) -> list[bytes]:
    """Every real page under root in the public layouts bench/extraction_eval.py reads."""
    pages: list[bytes] = []
    for html in sorted(root.glob("newspaper4k-*/tests/data/html/*.html")):
        pages.append(html.read_bytes())
    for html in sorted((root / "trafilatura-eval" / "cache").glob("*")):
        if html.is_file():
            raw = html.read_bytes()
            pages.append(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    for gz in sorted(root.glob("*/html/*.html.gz")):
        pages.append(gzip.decompress(gz.read_bytes()))
    return [p for p in pages if len(p) > 2000]


class Site:
    """Each page `copies` times at /c<k>/<i>.html behind /sitemap.xml, on loopback threads."""

    def __init__(self, pages: list[bytes], copies: int) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?")[0]
                if path == "/robots.txt":
                    self._send(b"User-agent: *\nAllow: /\n", "text/plain")
                elif path == "/sitemap.xml":
                    self._send(site.sitemap, "application/xml")
                elif path.startswith("/c") and path.endswith(".html"):
                    copy, _, name = path[2:].partition("/")
                    i = int(name[:-5])
                    self._send(site.pages[i], "text/html")
                else:
                    self.send_error(404)

            def _send(self, body: bytes, ctype: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.pages = pages
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        locs = "".join(f"<url><loc>{self.base}/c{k}/{i}.html</loc></url>"
                       for k in range(copies) for i in range(len(pages)))
        self.sitemap = ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                        f'sitemap/0.9">{locs}</urlset>').encode()
        self.count = copies * len(pages)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def bare_loop(pages: list[bytes], min_seconds: float = 3.0) -> tuple[float, float]:
    """(CPU seconds per page, pages/s wall) of trafilatura.extract alone over the same bytes."""
    import trafilatura

    for body in pages[:5]:  # warm-up: imports, compiled patterns
        trafilatura.extract(body)
    done = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while True:
        for body in pages:
            trafilatura.extract(body)
        done += len(pages)
        wall = time.perf_counter() - wall0
        if wall >= min_seconds:
            return (time.process_time() - cpu0) / done, done / wall


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cli(db: str, *args: str) -> tuple[float, float]:
    """(CPU of the process tree, wall seconds) of one `scrutineer ARGS` run."""
    env = {**os.environ, "SCRUTINEER_ALLOW_PRIVATE_NETWORKS": "1", "SCRUTINEER_DB": db}
    cpu, wall = _children_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "scrutineer.cli", *args, "-q"], env=env, cwd=PROJECT_DIR,
                          capture_output=True, text=True)
    wall = time.perf_counter() - wall
    if proc.returncode != 0 or " 0 failed" not in proc.stdout and args[0] == "collect":
        raise RuntimeError(f"scrutineer {' '.join(args)} failed: {proc.stdout[-500:]} {proc.stderr[-1500:]}")
    return _children_cpu() - cpu, wall


def _collect(tmp: Path, site: Site, label: str, then_process: bool) -> dict[str, float]:
    db = f"sqlite:///{tmp / (label + '.sqlite')}"
    listing = tmp / f"{label}.yaml"
    listing.write_text(json.dumps({"sources": [{"name": f"real-{label}", "kind": "sitemap",
                                                "url": site.base + "/sitemap.xml"}]}))
    _cli(db, "sources", "import", str(listing))
    cpu, wall = _cli(db, "collect")
    out = {"pages": site.count, "collect_cpu_s": cpu, "collect_wall_s": wall}
    if then_process:
        pcpu, pwall = _cli(db, "process")
        out.update(process_cpu_s=pcpu, process_wall_s=pwall)
    return out


def one_round(pages: list[bytes], copies: int, tmp: Path) -> dict[str, float]:
    before = bare_loop(pages)
    with Site(pages[:1], 1) as one_site:
        one = _collect(tmp, one_site, "one", then_process=False)
    with Site(pages, 1) as small_site:
        small = _collect(tmp, small_site, "small", then_process=False)
    with Site(pages, copies) as big_site:
        big = _collect(tmp, big_site, "big", then_process=True)
    after = bare_loop(pages)
    bare_cpu = (before[0] + after[0]) / 2
    bare_rate = (before[1] + after[1]) / 2
    slope = (big["collect_cpu_s"] - small["collect_cpu_s"]) / (big["pages"] - small["pages"])
    fixed = one["collect_cpu_s"] - slope
    intercept = small["collect_cpu_s"] - small["pages"] * slope
    rate = big["pages"] / (big["collect_wall_s"] + big["process_wall_s"])
    for p in (tmp / "one.sqlite", tmp / "small.sqlite", tmp / "big.sqlite"):
        p.unlink(missing_ok=True)
    return {"cpu_ratio": slope / bare_cpu, "fixed_cpu_s": fixed, "fixed_intercept_s": intercept,
            "wall_ratio": rate / bare_rate,
            "bare_cpu_ms": 1000 * bare_cpu, "collect_cpu_ms": 1000 * slope, "bare_pages_s": bare_rate,
            "collect_process_pages_s": rate, "bare_before_pages_s": before[1], "bare_after_pages_s": after[1],
            "small_collect_cpu_s": small["collect_cpu_s"], "big_collect_cpu_s": big["collect_cpu_s"],
            "big_collect_wall_s": big["collect_wall_s"], "big_process_wall_s": big["process_wall_s"],
            "pages": big["pages"]}


def run(root: Path | None = None, rounds: int | None = None, copies: int = COPIES) -> dict[str, Any] | None:
    """Medians over rounds, with every round's figures; None when no real pages are on disk."""
    pages = find_pages(root or bench_dir())
    if not pages:
        return None
    rounds = rounds or int(os.environ.get("SCRUTINEER_BENCH_ROUNDS", ROUNDS))
    with tempfile.TemporaryDirectory(prefix="scrutineer-realcrawl-") as tmp:
        each = [one_round(pages, copies, Path(tmp)) for _ in range(rounds)]
    med = {k: statistics.median(r[k] for r in each) for k in each[0]}
    return {"unique_pages": len(pages), "copies": copies, "mean_page_kb": sum(map(len, pages)) / len(pages) / 1024,
            "rounds": each, "median": med}


def render(fig: dict[str, Any]) -> list[str]:
    m = fig["median"]
    lines = [f"real pages: {fig['unique_pages']} pages x {fig['copies']} copies = {int(m['pages'])} per run, "
             f"{fig['mean_page_kb']:.0f} KB average; {len(fig['rounds'])} rounds, medians (range)",
             f"{'figure':<52} {'median':>8} {'range':>17} {'target':>8}"]

    def row(label: str, key: str, target: str, fmt: str = "{:.2f}") -> str:
        vals = [r[key] for r in fig["rounds"]]
        rng = f"{fmt.format(min(vals))}-{fmt.format(max(vals))}"
        return f"{label:<52} {fmt.format(m[key]):>8} {rng:>17} {target:>8}"

    lines += [row("collect CPU per page / bare trafilatura CPU per page", "cpu_ratio", "<= 1.3"),
              row("fixed CPU of one collect (s)", "fixed_cpu_s", "<= 2", "{:.1f}"),
              row("  the same, as the slope's intercept (s)", "fixed_intercept_s", "", "{:.1f}"),
              row("collect+process pages/s / bare pages/s (wall)", "wall_ratio", ">= 0.9"),
              row("  bare trafilatura CPU per page (ms)", "bare_cpu_ms", "", "{:.1f}"),
              row("  collect CPU per page (ms)", "collect_cpu_ms", "", "{:.1f}"),
              row("  bare pages/s, before the round", "bare_before_pages_s", "", "{:.1f}"),
              row("  bare pages/s, after the round", "bare_after_pages_s", "", "{:.1f}"),
              row("  collect+process pages/s", "collect_process_pages_s", "", "{:.1f}")]
    return lines


def main(argv: list[str]) -> int:
    fig = run(Path(argv[0]) if argv else None)
    if fig is None:
        print(f"no real pages under {argv[0] if argv else bench_dir()}: run `make bench-extraction` first")
        return 0
    print("\n".join(render(fig)))
    print(json.dumps(fig["median"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
