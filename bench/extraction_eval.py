"""`python -m bench.extraction_eval DIR`: our extraction against plain trafilatura on a public benchmark.

The benchmark is kept out of this repository (issue 3: tune on your own pages only), so this reads
it from a directory you point at, in either of two public layouts:

- ScrapingHub's article-extraction-benchmark: `ground-truth.json` ({id: {"articleBody", "url"}})
  and `html/<id>.html.gz`; scored by token F1 of our text against `articleBody`;
- newspaper4k's test fixtures (in its PyPI sdist, `tests/data`): `html/<name>.html`, the reference
  article text in `txt/<name>.txt` and the page URL in `metadata/<name>.json`; scored by token F1;
- trafilatura's evaluation set: `evaldata.py` (EVAL_PAGES: url → file, with, without) and
  `cache/<file>`; scored as trafilatura's own evaluation does, per snippet: a `with` snippet found
  is a true positive, missed a false negative; a `without` snippet found a false positive.

It runs `crawlers.extract.extract_article` (what `scrutineer extract` and the crawlers run) and a
bare `trafilatura.extract` over the same pages, interleaved, and prints both F1 figures and the
time ratio (targets: F1 at least trafilatura's, time at most 1.3x).
"""
from __future__ import annotations

import ast
import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trafilatura

from crawlers.extract import extract_article

# A word, or one character of a script written without spaces (CJK, kana, hangul, Thai, Burmese),
# so that token F1 means the same thing on a Chinese page as on an English one.
_NO_SPACES = "\u0e00-\u0eff\u1000-\u109f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af"
_TOKEN = re.compile(f"[{_NO_SPACES}]|[^\\W{_NO_SPACES}]+")


def load(root: Path) -> tuple[str, list[dict[str, Any]]]:
    """("tokens" | "snippets", pages) from either layout."""
    if (root / "ground-truth.json").exists():
        truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
        pages = []
        for pid, item in sorted(truth.items()):
            path = root / "html" / f"{pid}.html.gz"
            if path.exists():
                pages.append({"id": pid, "url": item.get("url") or f"https://example.invalid/{pid}",
                              "html": gzip.decompress(path.read_bytes()).decode("utf-8", "replace"),
                              "body": item.get("articleBody") or ""})
        return "tokens", pages
    if (root / "txt").is_dir() and (root / "html").is_dir():
        pages = []
        for path in sorted((root / "txt").glob("*.txt")):
            html = root / "html" / f"{path.stem}.html"
            if not html.exists():
                continue
            meta = root / "metadata" / f"{path.stem}.json"
            url = json.loads(meta.read_text(encoding="utf-8")).get("url") if meta.exists() else None
            pages.append({"id": path.stem, "url": url or f"https://example.invalid/{path.stem}",
                          "html": html.read_text(encoding="utf-8", errors="replace"),
                          "body": path.read_text(encoding="utf-8", errors="replace")})
        return "tokens", pages
    source = (root / "evaldata.py").read_text(encoding="utf-8")
    literal = source[source.index("{"):source.rindex("}") + 1]
    data = ast.literal_eval(literal)  # a literal only: nothing from the file is executed
    pages = []
    for url, item in data.items():
        path = root / "cache" / item["file"]
        if path.exists():
            pages.append({"id": item["file"], "url": url, "html": path.read_text(encoding="utf-8", errors="replace"),
                          "with": item.get("with", []), "without": item.get("without", [])})
    return "snippets", pages


def token_prf(got: str, want: str) -> tuple[float, float, float]:
    g = Counter(t.lower() for t in _TOKEN.findall(got))
    w = Counter(t.lower() for t in _TOKEN.findall(want))
    overlap = sum((g & w).values())
    p = overlap / sum(g.values()) if g else 0.0
    r = overlap / sum(w.values()) if w else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def snippet_counts(got: str, page: dict[str, Any]) -> tuple[int, int, int]:
    """(tp, fp, fn) as trafilatura's evaluation counts them."""
    flat = " ".join(got.split())
    tp = sum(" ".join(s.split()) in flat for s in page["with"])
    fn = len(page["with"]) - tp
    fp = sum(" ".join(s.split()) in flat for s in page["without"])
    return tp, fp, fn


def score(mode: str, pages: list[dict[str, Any]], texts: list[str]) -> float:
    if mode == "tokens":
        return sum(token_prf(t, p["body"])[2] for t, p in zip(texts, pages, strict=True)) / len(pages)
    tp = fp = fn = 0
    for t, p in zip(texts, pages, strict=True):
        a, b, c = snippet_counts(t, p)
        tp, fp, fn = tp + a, fp + b, fn + c
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _ours(url: str, html: str) -> str:
    return str(extract_article(url, html).text)


def _bare(url: str, html: str) -> str:
    return trafilatura.extract(html, url=url) or ""


def evaluate(root: Path, rounds: int = 3) -> dict[str, Any]:
    mode, pages = load(root)
    if not pages:
        raise SystemExit(f"no benchmark pages found under {root}")
    runners: dict[str, Callable[[str, str], str]] = {"bare": _bare, "ours": _ours}
    texts = {name: [fn(p["url"], p["html"]) for p in pages] for name, fn in runners.items()}  # warm-up too
    spent = dict.fromkeys(runners, 0.0)
    for _ in range(rounds):  # interleaved whole passes: machine noise hits both alike
        for name, fn in runners.items():
            start = time.perf_counter()
            for p in pages:
                fn(p["url"], p["html"])
            spent[name] += time.perf_counter() - start
    return {"layout": mode, "pages": len(pages),
            "f1_bare": round(score(mode, pages, texts["bare"]), 4),
            "f1_ours": round(score(mode, pages, texts["ours"]), 4),
            "seconds_bare": round(spent["bare"] / rounds, 3), "seconds_ours": round(spent["ours"] / rounds, 3),
            "time_ratio": round(spent["ours"] / spent["bare"], 3)}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m bench.extraction_eval BENCHMARK_DIR")
    print(json.dumps(evaluate(Path(sys.argv[1])), indent=2))
