"""Quality scores of an export against a labelled truth file (the demo newsroom's, or any site's).

Used by the quality-gate tests and `make bench`, so the pinned floors and the printed figures
are the same computation.
"""
from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations
from typing import Any
from urllib.parse import urlsplit


def _f1(tp: int, fp: int, fn: int) -> float:
    if tp == 0:
        return 1.0 if fp == fn == 0 else 0.0
    p, r = tp / (tp + fp), tp / (tp + fn)
    return 2 * p * r / (p + r)


def _pairs(groups: dict[str, str]) -> set[frozenset[str]]:
    by: dict[str, list[str]] = {}
    for key, g in groups.items():
        by.setdefault(g, []).append(key)
    return {frozenset(p) for members in by.values() for p in combinations(sorted(members), 2)}


def pair_f1(truth: dict[str, str], got: dict[str, str]) -> float:
    t, g = _pairs(truth), _pairs(got)
    return _f1(len(t & g), len(g - t), len(t - g))


def pair_prf(truth: dict[str, str], got: dict[str, str]) -> dict[str, float]:
    """Pair precision, recall and F1: precision falls when events are merged, recall when one is split."""
    t, g = _pairs(truth), _pairs(got)
    tp = len(t & g)
    return {"p": round(tp / len(g), 4) if g else 1.0, "r": round(tp / len(t), 4) if t else 1.0,
            "f1": round(_f1(tp, len(g - t), len(t - g)), 4)}


def match_records(records: Iterable[dict[str, Any]], truth: dict[str, Any],
                  outlets: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Key every exported record as "outlet path" via its canonical URL."""
    by_origin = {urlsplit(base).netloc: slug for slug, base in outlets.items()}
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        parts = urlsplit(rec["canonical_url"])
        slug = by_origin.get(parts.netloc)
        if slug is None:
            continue
        paths = {p.rstrip("/") or "/": p for p in truth["articles"].get(slug, {})}
        path = paths.get(parts.path.rstrip("/") or "/")
        if path is not None:
            out[f"{slug} {path}"] = rec
    return out


#: The contract's starter slugs: the truth files label these, so only these are scored (a gazetteer
#: tag such as `home-office` is not an error just because the labeller did not consider it).
STARTER_SLUGS = frozenset({"palantir", "met-police", "mopac", "sadiq-khan", "mark-rowley", "facial-recognition",
                           "peterborough", "procurement", "officer-misconduct", "ai-crime", "civil-liberties"})


def scores(records: Iterable[dict[str, Any]], truth: dict[str, Any], outlets: dict[str, str]) -> dict[str, Any]:
    got = match_records(records, truth, outlets)
    labelled = {f"{o} {p}": v for o, arts in truth["articles"].items() for p, v in arts.items()}
    scored = {k: v for k, v in labelled.items() if k in got}
    id_to_key = {rec["id"]: k for k, rec in got.items()}
    tp = fp = fn = 0
    ttp = tfp = tfn = 0
    for k, v in scored.items():
        rec = got[k]
        tp += bool(rec["relevant"]) and v["relevant"]
        fp += bool(rec["relevant"]) and not v["relevant"]
        fn += (not rec["relevant"]) and v["relevant"]
        want, have = set(v["tags"]) & STARTER_SLUGS, set(rec["tags"]) & STARTER_SLUGS
        ttp, tfp, tfn = ttp + len(want & have), tfp + len(have - want), tfn + len(want - have)
    dup_truth = {k: (f"{v['duplicate_of']['outlet']} {v['duplicate_of']['path']}" if v["duplicate_of"] else k)
                 for k, v in scored.items()}
    dup_got = {k: (id_to_key.get(got[k]["duplicate_of"], got[k]["duplicate_of"]) if got[k]["duplicate_of"] else k)
               for k in scored}
    story_truth = {k: v["story"] for k, v in scored.items() if v["relevant"]}
    story_got = {k: got[k]["story_id"] for k in story_truth}
    labels = ("negative", "neutral", "positive")
    f1s = []
    for lab in labels:
        rel = [k for k in scored if scored[k]["relevant"]]
        ltp = sum(got[k]["sentiment"]["label"] == lab and scored[k]["tone"] == lab for k in rel)
        lfp = sum(got[k]["sentiment"]["label"] == lab and scored[k]["tone"] != lab for k in rel)
        lfn = sum(got[k]["sentiment"]["label"] != lab and scored[k]["tone"] == lab for k in rel)
        f1s.append(_f1(ltp, lfp, lfn))
    return {
        "labelled": len(labelled), "matched": len(scored),
        "relevance_f1": round(_f1(tp, fp, fn), 4), "tag_micro_f1": round(_f1(ttp, tfp, tfn), 4),
        "duplicate_pair_f1": round(pair_f1(dup_truth, dup_got), 4),
        "story_pair_f1": round(pair_f1(story_truth, story_got), 4),
        "sentiment_macro_f1": round(sum(f1s) / len(f1s), 4),
    }


def tag_scores(pairs: Iterable[tuple[Iterable[str], Iterable[str]]]) -> dict[str, Any]:
    """Micro precision/recall/F1 over (gold tags, predicted tags) pairs, with per-slug counts so a
    failing gate can say which tag let it down."""
    per: dict[str, dict[str, int]] = {}
    for gold, got in pairs:
        want, have = set(gold), set(got)
        for slug, key in [(s, "tp") for s in want & have] + [(s, "fp") for s in have - want] + \
                         [(s, "fn") for s in want - have]:
            per.setdefault(slug, {"tp": 0, "fp": 0, "fn": 0})[key] += 1
    tp, fp, fn = (sum(c[k] for c in per.values()) for k in ("tp", "fp", "fn"))
    return {"micro_f1": round(_f1(tp, fp, fn), 4),
            "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
            "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
            "tp": tp, "fp": fp, "fn": fn, "per_slug": dict(sorted(per.items()))}


def per_slug_report(result: dict[str, Any]) -> str:
    """One line per slug with an error: what a CI log needs to find the tag that slipped."""
    lines = []
    for slug, c in result["per_slug"].items():
        if c["fp"] or c["fn"]:
            p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
            r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
            lines.append(f"  {slug:32s} P {p:.2f} R {r:.2f}  (tp {c['tp']}, fp {c['fp']}, fn {c['fn']})")
    return "\n".join(lines)


def labelled_tag_scores(tax: Any, articles: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Tag scores of the taxonomy `tax` on a labelled set (tests/data/tags_labelled.yaml's shape:
    title, text, gold tags), over every slug of the taxonomy and gazetteer."""
    return tag_scores((a["tags"], tax.tag(a["title"], a["text"])) for a in articles)


def tag_errors(tax: Any, articles: Iterable[dict[str, Any]],
               slugs: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Every false positive (with the sentences that made it) and false negative of `tax` on a labelled
    set, restricted to `slugs` when given: what a person tuning aliases reads instead of a score."""
    out = []
    for a in articles:
        got = tax.tag(a["title"], a["text"])
        want, have = set(a["tags"]), set(got)
        if slugs is not None:
            want, have = want & slugs, have & slugs
        for slug in sorted(have - want):
            out.append({"id": a["id"], "slug": slug, "kind": "fp", "title": a["title"],
                        "sentences": got[slug].sentences})
        for slug in sorted(want - have):
            raw = tax.match(a["title"], a["text"]).get(slug)  # a hit the evidence rule dropped, if any
            out.append({"id": a["id"], "slug": slug, "kind": "fn", "title": a["title"],
                        "sentences": raw.sentences if raw else []})
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m evaluation.evaluate tags FILE.yaml [--split dev]`: tag scores and every error."""
    import argparse
    from pathlib import Path

    import yaml

    from core.settings import rules_file
    from pipelines.taxonomy import load

    parser = argparse.ArgumentParser(prog="python -m evaluation.evaluate")
    parser.add_argument("what", choices=["tags"])
    parser.add_argument("file", type=Path)
    parser.add_argument("--split", help="only articles with this split (dev, holdout)")
    parser.add_argument("--slug", action="append", help="only these slugs (repeatable)")
    args = parser.parse_args(argv)
    tax = load(rules_file("taxonomy.yaml"), rules_file("gazetteer.yaml"))  # the shipped rules, wherever installed
    articles = yaml.safe_load(args.file.read_text(encoding="utf-8"))["articles"]
    if args.split:
        articles = [a for a in articles if a.get("split") == args.split]
    result = labelled_tag_scores(tax, articles)
    print({k: result[k] for k in ("micro_f1", "precision", "recall", "tp", "fp", "fn")})
    print(per_slug_report(result))
    for err in tag_errors(tax, articles, frozenset(args.slug) if args.slug else None):
        print(f"{err['kind'].upper()} {err['id']} {err['slug']}: {err['title']}")
        for sent in err["sentences"]:
            print(f"      | {sent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
