"""The taxonomy (YAML that analysts edit) compiled into one matcher.

All aliases of all tags become a single compiled alternation, so matching an article is one
pass over its text however many aliases there are, instead of one regex per alias per article.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipelines.text import fold, sentences


@dataclass(frozen=True)
class Tag:
    slug: str
    label: str
    parent: str | None
    relevance: str
    context: tuple[str, ...] = ()
    veto: tuple[str, ...] = ()


@dataclass
class Match:
    slug: str
    evidence: str  #: the first sentence that matched
    count: int = 0
    sentences: list[str] = field(default_factory=list)


def _pattern(phrases: list[tuple[str, str]], ignore_case: bool, named: bool = True) -> re.Pattern[str] | None:
    if not phrases:
        return None
    # Longest first so "Metropolitan Police Service" wins over "Metropolitan Police".
    ordered = sorted(phrases, key=lambda p: -len(p[0]))
    body = "|".join(f"(?P<g{i}>{re.escape(fold(p))})" if named else re.escape(fold(p))
                    for i, (p, _) in enumerate(ordered))
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w])", re.IGNORECASE if ignore_case else 0)


def _is_acronym(phrase: str) -> bool:
    letters = [c for c in phrase if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters) and len(letters) <= 5


class Taxonomy:
    """Compiled tags and relevance signals."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.tags: dict[str, Tag] = {}
        strong_ci: list[tuple[str, str]] = []
        strong_cs: list[tuple[str, str]] = []
        weak_ci: list[tuple[str, str]] = []
        weak_cs: list[tuple[str, str]] = []
        excludes: list[str] = []
        for entry in data.get("tags", []):
            tag = Tag(slug=entry["slug"], label=entry.get("label", entry["slug"]), parent=entry.get("parent"),
                      relevance=entry.get("relevance", "none"),
                      context=tuple(fold(c).lower() for c in entry.get("context", [])),
                      veto=tuple(fold(v).lower() for v in entry.get("veto", [])))
            self.tags[tag.slug] = tag
            for alias in entry.get("aliases", []):
                (strong_cs if _is_acronym(alias) else strong_ci).append((alias, tag.slug))
            for alias in entry.get("weak", []):
                cs = entry.get("case_sensitive_weak") or _is_acronym(alias)
                (weak_cs if cs else weak_ci).append((alias, tag.slug))
            excludes.extend(entry.get("exclude", []))
        self._passes: list[tuple[re.Pattern[str], list[tuple[str, str]], bool]] = []
        for phrases, ignore_case, weak in ((strong_ci, True, False), (strong_cs, False, False),
                                           (weak_ci, True, True), (weak_cs, False, True)):
            pat = _pattern(phrases, ignore_case)
            if pat is not None:
                self._passes.append((pat, sorted(phrases, key=lambda p: -len(p[0])), weak))
        self._exclude = _pattern([(e, "") for e in excludes], True, named=False)
        self.signals: dict[str, re.Pattern[str]] = {}
        for group, words in (data.get("signals") or {}).items():
            ci = [(w, group) for w in words if not _is_acronym(w)]
            cs = [(w, group) for w in words if _is_acronym(w)]
            # Acronyms ("AI") match case-sensitively, words not: one regex per group, inline flags.
            ci_pat, cs_pat = _pattern(ci, True, named=False), _pattern(cs, False, named=False)
            alternatives = [f"(?i:{ci_pat.pattern})" if ci_pat else "", cs_pat.pattern if cs_pat else ""]
            joined = "|".join(a for a in alternatives if a)
            if joined:
                self.signals[group] = re.compile(joined)

    def match(self, title: str, text: str) -> dict[str, Match]:
        """Tags found in an article, each with the sentence that proves it."""
        folded_sents = [fold(s) for s in sentences(f"{title}.\n{text}" if title else text)]
        if self._exclude is not None:
            folded_sents = [self._exclude.sub(lambda m: " " * len(m.group(0)), s) for s in folded_sents]
        whole = " ".join(folded_sents).lower()
        found: dict[str, Match] = {}
        for pat, phrases, weak in self._passes:
            for sent in folded_sents:
                for m in pat.finditer(sent):
                    idx = int(next(k for k, v in m.groupdict().items() if v is not None)[1:])
                    slug = phrases[idx][1]
                    tag = self.tags[slug]
                    if weak and (slug not in found) and not self._weak_ok(tag, whole):
                        continue
                    hit = found.setdefault(slug, Match(slug=slug, evidence=sent))
                    hit.count += 1
                    if sent not in hit.sentences:
                        hit.sentences.append(sent)
        return found

    @staticmethod
    def _weak_ok(tag: Tag, whole: str) -> bool:
        if any(re.search(rf"(?<!\w){re.escape(v)}(?!\w)", whole) for v in tag.veto):
            return False
        return any(re.search(rf"(?<!\w){re.escape(c)}(?!\w)", whole) for c in tag.context)

    def signal_counts(self, title: str, text: str) -> dict[str, int]:
        folded = fold(f"{title}\n{text}")
        if self._exclude is not None:
            folded = self._exclude.sub(" ", folded)
        return {group: len(pat.findall(folded)) for group, pat in self.signals.items()}


@lru_cache(maxsize=4)
def load(path: Path) -> Taxonomy:
    with open(path, encoding="utf-8") as fh:
        return Taxonomy(yaml.safe_load(fh))
