"""`python -m bench.headline_eval DIR`: headlines on real pages, newspaper4k's test fixtures.

DIR is newspaper4k's `tests/data` (its PyPI sdist, fetched by `make bench-extraction`; kept out of
this repository for its licence): `html/<name>.html`, and `metadata/<name>.json` for most pages
with the title newspaper4k's authors checked by hand.

Which headline is right was judged by hand, page by page, and is recorded here by page name
only (no text of the pages): the hand-checked newspaper4k title, except where the page shows a
different headline in its article <h1> than in its <title> (then the <h1>, what a reader sees),
and for the pages without metadata (then the article <h1>, checked by eye). Home pages, redirect
stubs and a feed are not articles and are left out. Prints, per page, the raw <title>, ours and
the judged headline, then how many of ours, of the raw <title>s and of the old choice
(og:title, else <title>) equal the judged headline.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from trafilatura.utils import load_html

from crawlers.extract import extract_article
from crawlers.headline import _h1s, _metas

#: Not articles: redirect stubs, a feed, three home pages.
NOT_ARTICLES = frozenset({"ap_meta_refresh", "google_meta_refresh", "sample_rss", "cnn_main_site",
                          "wired_main_site", "yahoo_main_site"})
#: The article's <h1> is the headline: it differs from the <title> newspaper4k kept (an SEO title),
#: or the page has no metadata file and its <h1> was checked by eye.
H1_IS_HEADLINE = frozenset({"cnn_001", "cnn_test_nlp", "time_001", "video_article_02", "autoindustria",
                            "burmese_article", "chinese_article", "latvian_article"})
#: Judged by hand where neither fits: the headline without the photo credit and the paper's name.
JUDGED_BY_HAND_MISSING = frozenset({"japanese_article"})


def judged(stem: str, html: bytes, metadata: dict[str, Any]) -> str | None:
    """The headline a reader sees on the page, or None when it was judged by hand to be neither
    the <h1> nor newspaper4k's title (counted as a miss for every method)."""
    if stem in JUDGED_BY_HAND_MISSING:
        return None
    if stem in H1_IS_HEADLINE or not metadata.get("title"):
        heads = _h1s(load_html(html))
        return heads[0] if heads else None
    return " ".join(str(metadata["title"]).split())


def _old_choice(html: bytes) -> str:
    """What extraction stored before issue 12: og:title, else <title>, else <h1>."""
    tree = load_html(html)
    og = _metas(tree).get("og:title")
    if og:
        return og[0]
    node = tree.find(".//title")
    return " ".join(node.text_content().split()) if node is not None else ""


def evaluate(root: Path, verbose: bool = False) -> dict[str, Any]:
    rows = []
    for page in sorted((root / "html").glob("*.html")):
        stem = page.stem
        if stem in NOT_ARTICLES:
            continue
        meta_path = root / "metadata" / f"{stem}.json"
        metadata = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        html = page.read_bytes()
        fields = extract_article(metadata.get("url") or f"https://example.com/{stem}", html)
        want = judged(stem, html, metadata)
        rows.append({"page": stem, "want": want, "ours": fields.title, "raw": fields.raw_title,
                     "old": " ".join(_old_choice(html).split())})
        if verbose:
            print(f"{stem}\n  raw:   {fields.raw_title}\n  ours:  {fields.title}\n  judged: {want}")
    n = len(rows)
    exact = {k: sum(r[k] == r["want"] for r in rows) for k in ("ours", "raw", "old")}
    return {"pages": n, "exact": exact, "misses": [r for r in rows if r["ours"] != r["want"]]}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "html").is_dir():
        print("usage: python -m bench.headline_eval NEWSPAPER4K_TESTS_DATA_DIR", file=sys.stderr)
        return 2
    result = evaluate(Path(argv[0]), verbose=True)
    n = result["pages"]
    for key, label in (("ours", "ours (crawlers/headline.py)"), ("raw", "raw <title>"),
                       ("old", "before issue 12 (og:title, else <title>)")):
        print(f"{label}: {result['exact'][key]}/{n} headlines exact ({result['exact'][key] / n:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
