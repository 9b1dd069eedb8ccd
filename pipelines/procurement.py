"""The procurement judgement: is an OCDS notice about policing AI, data or surveillance work, and why.

The crawler only parses notices (crawlers/ocds.py); this stage decides which are kept and records
the reasons (`matched`) that `tenders list`, the export and the digest's tender watch show. It runs
inside the crawl process as an item pipeline (ProcurementJudgement, wired in by
pipelines/crawl_settings.py, the settings of every crawl this project launches), ahead of the
storage pipeline, so only notices that matter are stored, as before.

Rules: pipelines/procurement.yaml (buyers, policing and tech keywords, always-watched names, CPV
prefixes) plus the gazetteer's police forces and policing bodies as buyers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from crawlers.items import NoticePage
from crawlers.ocds import parse_notices


def _pattern(terms: list[str]) -> re.Pattern[str] | None:
    """One alternation; short all-capitals acronyms are case-sensitive, everything else is not."""
    parts = []
    for term in sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True):
        body = r"\s+".join(re.escape(w) for w in term.split())
        parts.append(body if term.isupper() and len(term) <= 5 else f"(?i:{body})")
    return re.compile(r"(?<!\w)(" + "|".join(parts) + r")(?!\w)") if parts else None


@dataclass
class Rules:
    buyers: re.Pattern[str] | None
    policing: re.Pattern[str] | None
    tech: re.Pattern[str] | None
    always: re.Pattern[str] | None
    cpv_prefixes: dict[str, str] = field(default_factory=dict)


def _gazetteer_buyers(path: Path | None) -> list[str]:
    """Official names and strong aliases of forces and policing bodies: cheap, and no false friends."""
    if path is None or not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    names: list[str] = []
    for tag in data.get("tags") or []:
        if isinstance(tag, dict) and tag.get("parent") in ("police-forces", "policing-bodies"):
            names += [tag.get("label") or ""] + [a for a in tag.get("aliases") or [] if isinstance(a, str)]
    return [n for n in names if n]


@lru_cache(maxsize=4)
def load_rules(path: Path, gazetteer: Path | None = None) -> Rules:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return Rules(
        buyers=_pattern(list(data.get("buyers") or []) + _gazetteer_buyers(gazetteer)),
        policing=_pattern(list(data.get("policing_keywords") or [])),
        tech=_pattern(list(data.get("tech_keywords") or [])),
        always=_pattern(list(data.get("always") or [])),
        cpv_prefixes={str(k): str(v) for k, v in (data.get("cpv_prefixes") or {}).items()},
    )


def default_rules() -> Rules:
    from core.settings import Settings, rules_file

    return load_rules(rules_file("procurement.yaml"), Settings().gazetteer)


def _hits(pattern: re.Pattern[str] | None, text: str) -> list[str]:
    if pattern is None or not text:
        return []
    out: list[str] = []
    for m in pattern.finditer(text):
        word = " ".join(m.group(1).split())
        if word.lower() not in {w.lower() for w in out}:
            out.append(word)
    return out


def match(notice: dict[str, Any], rules: Rules) -> list[str]:
    """Why this notice matters (empty: it doesn't): policing AND AI/data/surveillance, or a watched name."""
    text = " ".join([notice.get("title") or "", notice.get("description") or ""])
    names = " ; ".join([notice.get("buyer") or ""] + list(notice.get("suppliers") or []))
    always = _hits(rules.always, text + " ; " + names)
    buyer = _hits(rules.buyers, notice.get("buyer") or "")
    policing = _hits(rules.policing, text)
    cpv = [f"cpv: {code} ({label})" for code in notice.get("cpv") or []
           for prefix, label in rules.cpv_prefixes.items() if code.startswith(prefix)][:5]
    tech = _hits(rules.tech, text)
    reasons = [f"watched: {w}" for w in always]
    if (buyer or policing) and (cpv or tech):
        reasons += [f"buyer: {notice.get('buyer')}"] if buyer else []
        reasons += [f"policing: {w}" for w in policing[:3]]
        reasons += cpv + [f"keyword: {w}" for w in tech[:5]]
    return reasons


def judge(notices: list[dict[str, Any]], rules: Rules) -> list[dict[str, Any]]:
    """The notices that matter, each with its reasons in `matched`; the others dropped."""
    kept = []
    for notice in notices:
        notice["matched"] = match(notice, rules)
        if notice["matched"]:
            kept.append(notice)
    return kept


def notices_from_package(package: dict[str, Any], source: str, rules: Rules | None,
                         now: datetime | None = None) -> tuple[list[dict[str, Any]], int]:
    """(kept notices with their reasons, how many releases were read); rules None keeps all."""
    notices, read_count = parse_notices(package, source, now)
    return (notices if rules is None else judge(notices, rules)), read_count


class ProcurementJudgement:
    """Scrapy item pipeline: each page of notices keeps only those that matter, before storage."""

    def __init__(self) -> None:
        # Loaded at the first page of notices: every crawl process has this pipeline, and reading
        # the rules and gazetteer (about 0.25 s) is wasted on the feeds and sitemaps most crawl.
        self.rules: Any = None

    def process_item(self, item: Any) -> Any:
        if isinstance(item, NoticePage):
            if self.rules is None:
                self.rules = default_rules()
            item.notices = judge(item.notices, self.rules)
            item.judged = True
        return item
