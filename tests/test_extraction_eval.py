"""The public-benchmark harness reads both layouts and scores what it should (on pages we write)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bench import extraction_eval

BODY = [f"The harbour board met on Tuesday to discuss item {i} of the dredging plan, and members asked "
        f"the engineers to return with costed options before the spring tides arrive." for i in range(8)]
CHROME = "<nav><a href='/'>Home</a> <a href='/news'>News</a> Subscribe to our newsletter today</nav>"


def _page(n: int) -> str:
    paragraphs = "".join(f"<p>{p} (page {n})</p>" for p in BODY)
    return (f"<html><head><title>Dredging plan {n}</title></head><body>{CHROME}<article><h1>Dredging plan {n}</h1>"
            f"{paragraphs}</article><footer>Copyright Harbour Gazette. Cookie settings.</footer></body></html>")


@pytest.mark.timeout(120)
def test_scrapinghub_layout_token_f1(tmp_path: Path) -> None:
    (tmp_path / "html").mkdir()
    truth = {}
    for n in range(3):
        (tmp_path / "html" / f"p{n}.html.gz").write_bytes(gzip.compress(_page(n).encode()))
        body = "\n".join(f"{p} (page {n})" for p in BODY)
        truth[f"p{n}"] = {"url": f"https://gazette.example/p{n}", "articleBody": body}
    (tmp_path / "ground-truth.json").write_text(json.dumps(truth))
    fig = extraction_eval.evaluate(tmp_path, rounds=1)
    assert fig["layout"] == "tokens" and fig["pages"] == 3
    assert fig["f1_ours"] > 0.95 and fig["f1_bare"] > 0.95
    assert fig["time_ratio"] > 0
    assert extraction_eval.token_prf("a b c", "a b d")[2] == pytest.approx(2 / 3)


@pytest.mark.timeout(120)
def test_trafilatura_layout_snippets(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "p0.html").write_text(_page(0))
    (tmp_path / "evaldata.py").write_text(
        "EVAL_PAGES = {\n'https://gazette.example/p0': {'file': 'p0.html', 'with': ['item 3 of the dredging plan'],"
        " 'without': ['Subscribe to our newsletter', 'Cookie settings']},\n}\n")
    fig = extraction_eval.evaluate(tmp_path, rounds=1)
    assert fig["layout"] == "snippets" and fig["f1_ours"] == 1.0


@pytest.mark.timeout(120)
def test_newspaper_layout_reads_pages_texts_and_urls(tmp_path: Path) -> None:
    for d in ("html", "txt", "metadata"):
        (tmp_path / d).mkdir()
    for n in range(2):
        (tmp_path / "html" / f"p{n}.html").write_text(_page(n), encoding="utf-8")
        (tmp_path / "txt" / f"p{n}.txt").write_text("\n\n".join(f"{p} (page {n})" for p in BODY), encoding="utf-8")
        (tmp_path / "metadata" / f"p{n}.json").write_text(json.dumps({"url": f"https://gazette.example/p{n}"}))
    (tmp_path / "txt" / "orphan.txt").write_text("no page for this one")
    mode, pages = extraction_eval.load(tmp_path)
    assert mode == "tokens" and [p["url"] for p in pages] == ["https://gazette.example/p0", "https://gazette.example/p1"]
    out = extraction_eval.evaluate(tmp_path, rounds=1)
    assert out["pages"] == 2 and out["f1_ours"] > 0.95 and out["f1_bare"] > 0.95, out


def test_token_f1_counts_characters_in_scripts_without_spaces() -> None:
    # "It is sunny in Tokyo today" against "It is raining in Tokyo today": most characters shared.
    p, r, f = extraction_eval.token_prf("今日の東京は晴れです", "今日の東京は雨です")
    assert 0.7 < f < 1.0 and p < 1.0 and r < 1.0
    assert extraction_eval.token_prf("Harbour board met", "harbour Board met") == (1.0, 1.0, 1.0)
