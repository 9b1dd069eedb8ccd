"""Run processing over a labelled dedup/story corpus and score it (tests/data/dedup_corpus).

Articles are stored in publication order (first-seen = published), as a collector would have met
them, then the real `process` stage runs; pair F1 compares its duplicate, story and thread
assignments with the labels. Used by the quality-gate tests and by hand on any file of the same
shape: `python -m evaluation.corpus_eval FILE.yaml [--errors]`.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings
from evaluation.evaluate import pair_f1, pair_prf
from pipelines import export
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, read, write


def load(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["articles"])


def ingest(settings: Settings, items: list[dict[str, Any]]) -> None:
    arts = []
    for it in sorted(items, key=lambda i: (str(i["published_at"]), i["id"])):
        when = datetime.fromisoformat(str(it["published_at"]))
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        arts.append(Article(url=it["url"], canonical_url=it["url"], source=it["outlet"], title=it["title"],
                            text=it["text"], published_at=when, fetched_at=when, language="en"))
    with write(get_engine(settings.db)) as conn:
        store_articles(conn, arts)


def assignments(settings: Settings, items: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Per labelled id: the id of the original it duplicates (or itself), its story and its thread."""
    from storage import articles as store

    by_url = {r["url"]: r for r in export.records(settings)}
    with read(get_engine(settings.db)) as conn:
        stories = {s["id"]: s for s in store.stories_since(conn, datetime(2000, 1, 1, tzinfo=timezone.utc))}
    key_of = {by_url[it["url"]]["id"]: it["id"] for it in items}
    out = {}
    for it in items:
        rec = by_url[it["url"]]
        sid = rec["story_id"]
        out[it["id"]] = {"duplicate": key_of.get(rec["duplicate_of"] or "", it["id"]), "story": sid,
                         "thread": (stories.get(sid) or {}).get("thread_id") or sid}
    return out


def score(settings: Settings, items: list[dict[str, Any]]) -> dict[str, Any]:
    got = assignments(settings, items)
    dup_truth = {it["id"]: it["duplicate_of"] or it["id"] for it in items}
    story_truth = {it["id"]: it["story"] for it in items}
    story = pair_prf(story_truth, {k: v["story"] for k, v in got.items()})
    dup_got = {k: v["duplicate"] for k, v in got.items()}
    out: dict[str, Any] = {"duplicate_pair_f1": round(pair_f1(dup_truth, dup_got), 4),
                           "story_pair_f1": story["f1"], "story_pair_p": story["p"], "story_pair_r": story["r"],
                           "articles": len(items)}
    if all(it.get("thread") for it in items):
        thread = pair_prf({it["id"]: it["thread"] for it in items}, {k: v["thread"] for k, v in got.items()})
        out.update(thread_pair_f1=thread["f1"], thread_pair_p=thread["p"], thread_pair_r=thread["r"])
    return out


def score_file(path: Path, workdir: Path) -> dict[str, Any]:
    """A labelled file ingested into a fresh SQLite database under `workdir`, processed and scored:
    what the quality tests and this module's command line share."""
    from pipelines import process

    items = load(path)
    settings = Settings(db=f"sqlite:///{workdir / 'eval.sqlite'}")
    ingest(settings, items)
    process.run(settings)
    got = score(settings, items)
    print(path.name, got)
    return got


def errors(settings: Settings, items: list[dict[str, Any]]) -> list[str]:
    """Lines naming every wrongly merged and wrongly split story pair: what a person tuning reads."""
    got = assignments(settings, items)
    title = {it["id"]: it["title"] for it in items}
    lines = []
    for a in items:
        for b in items:
            if a["id"] >= b["id"]:
                continue
            same_truth, same_got = a["story"] == b["story"], got[a["id"]]["story"] == got[b["id"]]["story"]
            if same_truth != same_got:
                kind = "SPLIT" if same_truth else "MERGED"
                lines.append(f"{kind} {a['id']} [{a['story']}] {title[a['id']]}\n"
                             f"     {b['id']} [{b['story']}] {title[b['id']]}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Score one labelled stories file in a throw-away SQLite database and print the figures."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m evaluation.corpus_eval",
                                     description="Duplicate, story and thread pair F1 of `process` on a labelled file.")
    parser.add_argument("file", type=Path, help="YAML with an `articles:` list (tests/data/dedup_corpus shape)")
    parser.add_argument("--errors", action="store_true", help="also list every merged and split pair")
    args = parser.parse_args(argv)
    try:
        items = load(args.file)
        for it in items:
            missing = {"id", "url", "title", "text", "published_at", "story"} - set(it)
            if missing:
                raise ValueError(f"article {it.get('id')} lacks {', '.join(sorted(missing))}")
            it.setdefault("duplicate_of", None)
            it.setdefault("outlet", "unknown")
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        print(f"corpus_eval: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    from pipelines import process

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db=f"sqlite:///{tmp}/eval.db")
        ingest(settings, items)
        process.run(settings)
        result = score(settings, items)
        print(" ".join(f"{k}={v}" for k, v in result.items()))
        if args.errors:
            print("\n".join(errors(settings, items)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
