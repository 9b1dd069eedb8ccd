"""Macro-F1 of tone scorers on a labelled paragraph set, side by side (tests and `make bench`)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from pipelines import sentiment, tone

LABELS = ("negative", "neutral", "positive")


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    scores = []
    for lab in LABELS:
        tp = sum(g == lab == p for g, p in zip(gold, pred, strict=True))
        fp = sum(p == lab != g for g, p in zip(gold, pred, strict=True))
        fn = sum(g == lab != p for g, p in zip(gold, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def vader_label(text: str, _analyser: list[object] = []) -> str:  # noqa: B006 - a deliberate one-slot cache
    if not _analyser:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _analyser.append(SentimentIntensityAnalyzer())
    compound = _analyser[0].polarity_scores(text)["compound"]  # type: ignore[attr-defined]
    return "negative" if compound <= -0.05 else "positive" if compound >= 0.05 else "neutral"  # VADER's own cut-offs


SCORERS: dict[str, Callable[[list[str]], list[str]]] = {
    "textblob": lambda texts: [sentiment.label(sentiment.polarity(t)) for t in texts],
    "vader": lambda texts: [vader_label(t) for t in texts],
    "scrutineer": lambda texts: [label for label, _ in tone.classify(texts)],
}


def compare(path: Path) -> dict[str, float]:
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    texts, gold = [i["text"] for i in items], [i["label"] for i in items]
    return {name: round(macro_f1(gold, scorer(texts)), 4) for name, scorer in SCORERS.items()}


def per_class_f1(gold: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    out = {}
    for lab in LABELS:
        tp = sum(g == lab == p for g, p in zip(gold, pred, strict=True))
        fp = sum(p == lab != g for g, p in zip(gold, pred, strict=True))
        fn = sum(g == lab != p for g, p in zip(gold, pred, strict=True))
        out[lab] = round(2 * tp / (2 * tp + fp + fn), 4) if tp else 0.0
    return out


def textblob_best(gold: Sequence[str], texts: Sequence[str]) -> tuple[list[str], tuple[float, float]]:
    """TextBlob at the thresholds that suit this very file best: the most flattering baseline."""
    pols = [sentiment.polarity(t) for t in texts]
    cuts = [x / 100 for x in range(-50, 51, 2)]
    best: tuple[float, list[str], tuple[float, float]] = (-1.0, [], (0.0, 0.0))
    for lo in cuts:
        for hi in (c for c in cuts if c > lo):
            pred = ["negative" if p <= lo else "positive" if p >= hi else "neutral" for p in pols]
            f = macro_f1(gold, pred)
            if f > best[0]:
                best = (f, pred, (lo, hi))
    return best[1], best[2]


def score_tone(items: list[dict[str, object]]) -> dict[str, object]:
    """Ours and TextBlob on what the pipeline reads for an article's tone: its opening sentences
    (`enrich.lead_text`; a paragraph is read whole)."""
    from pipelines.enrich import lead_text

    texts = [lead_text(str(i.get("title") or ""), str(i["text"])) for i in items]
    gold = [str(i["label"]) for i in items]
    ours = [label for label, _ in tone.classify(texts)]
    tb, cuts = textblob_best(gold, texts)
    return {"items": len(items), "scrutineer_macro_f1": round(macro_f1(gold, ours), 4),
            "scrutineer_per_class": per_class_f1(gold, ours),
            "textblob_best_macro_f1": round(macro_f1(gold, tb), 4), "textblob_per_class": per_class_f1(gold, tb),
            "textblob_thresholds": cuts}


def _norm(sentence: str) -> str:
    from pipelines.text import fold

    return " ".join(fold(sentence).lower().replace('"', "").replace("'", "").split()).rstrip(".!?")


def score_stance(items: list[dict[str, object]]) -> dict[str, object]:
    """Entity stance macro-F1 over the labelled entities our tagger also finds, how many it finds,
    and how often our evidence sentence is the labelled one."""
    from core.settings import Settings
    from pipelines.enrich import stances
    from pipelines.taxonomy import load

    settings = Settings()  # the taxonomy ships beside the stages, not this harness (moved to evaluation/)
    tax = load(settings.taxonomy, settings.gazetteer)
    gold, pred, same_evidence, labelled = [], [], 0, 0
    for it in items:
        title, text = str(it.get("title") or ""), str(it["text"])
        found, _ = tax.analyse(title, text)
        got = stances(title, tax.substantive(found, bool(title)))
        for s in it["stances"]:  # type: ignore[attr-defined]
            labelled += 1
            if s["entity"] not in got:
                continue
            polarity, evidence = got[s["entity"]]
            gold.append(s["stance"])
            pred.append(tone.label_for(polarity))
            same_evidence += _norm(evidence) == _norm(s.get("evidence") or "")
    return {"labelled": labelled, "found": len(gold),
            "stance_macro_f1": round(macro_f1(gold, pred), 4) if gold else 0.0,
            "stance_per_class": per_class_f1(gold, pred) if gold else {},
            "evidence_agreement": round(same_evidence / len(gold), 4) if gold else 0.0}


def main(argv: list[str] | None = None) -> int:
    """`python -m evaluation.sentiment_eval FILE.yaml`: tone scores (items with `label`) or entity
    stance scores (items with `stances`), whichever the file holds."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m evaluation.sentiment_eval",
                                     description="Tone or entity-stance figures on a labelled YAML file.")
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        items = yaml.safe_load(args.file.read_text(encoding="utf-8"))["items"]
        if not items or not isinstance(items, list):
            raise ValueError("no items")
        stance_file = "stances" in items[0]
        for it in items:
            if "text" not in it or ("stances" not in it if stance_file else it.get("label") not in LABELS):
                raise ValueError(f"item {it.get('id')} lacks text and {'stances' if stance_file else 'a label'}")
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        print(f"sentiment_eval: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(score_stance(items) if stance_file else score_tone(items)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
