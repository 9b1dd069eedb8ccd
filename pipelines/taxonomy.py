"""The taxonomy (YAML that analysts edit) compiled into one matcher.

All aliases of all tags go into Aho-Corasick automata, so matching an article is one pass over
its text however many aliases there are, instead of one regex per alias per article.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import ahocorasick
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
    first: int = 0  #: index of the first matching sentence (0 is the title when there is one)


def _is_acronym(phrase: str) -> bool:
    letters = [c for c in phrase if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters) and len(letters) <= 5


@dataclass(frozen=True)
class _Entry:
    kind: str  # tag | signal | exclude
    name: str  # slug or signal group
    weak: bool
    length: int


def _boundary(text: str, start: int, end: int) -> bool:
    """Whole words only: the phrase may not continue a word (or a hyphenated compound) on the left,
    nor a word on the right."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() or before in "_-") and not (after.isalnum() or after == "_")


class Taxonomy:
    """Compiled tags and relevance signals.

    Two Aho-Corasick automata (case-insensitive phrases, and case-sensitive ones such as acronyms
    and weak capitalised aliases) find every alias of every tag in one pass over the text, however
    many aliases the taxonomy and gazetteer hold; overlapping hits resolve leftmost-longest.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.tags: dict[str, Tag] = {}
        self._ci = ahocorasick.Automaton()
        self._cs = ahocorasick.Automaton()

        def add(phrase: str, entry: _Entry, case_sensitive: bool) -> None:
            key = fold(phrase) if case_sensitive else fold(phrase).lower()
            automaton = self._cs if case_sensitive else self._ci
            existing = automaton.get(key, ())
            automaton.add_word(key, (*existing, _Entry(entry.kind, entry.name, entry.weak, len(key))))

        for entry in data.get("tags", []):
            tag = Tag(slug=entry["slug"], label=entry.get("label", entry["slug"]), parent=entry.get("parent"),
                      relevance=entry.get("relevance", "none"),
                      context=tuple(fold(c).lower() for c in entry.get("context", [])),
                      veto=tuple(fold(v).lower() for v in entry.get("veto", [])))
            self.tags[tag.slug] = tag
            for alias in entry.get("aliases", []):
                add(alias, _Entry("tag", tag.slug, False, 0), _is_acronym(alias))
            for alias in entry.get("weak", []):
                case_sensitive = bool(entry.get("case_sensitive_weak")) or _is_acronym(alias)
                add(alias, _Entry("tag", tag.slug, True, 0), case_sensitive)
            for phrase in entry.get("exclude", []):
                add(phrase, _Entry("exclude", "", False, 0), False)
        self.signal_groups = list((data.get("signals") or {}).keys())
        for group, words in (data.get("signals") or {}).items():
            for word in words:  # acronyms ("AI") match case-sensitively, words not
                add(word, _Entry("signal", group, False, 0), _is_acronym(word))
        for automaton in (self._ci, self._cs):
            if len(automaton):
                automaton.make_automaton()

    def _hits(self, sent: str) -> list[tuple[int, int, _Entry]]:
        """(start, end, entry) for every boundary-respecting hit, excluded spans removed."""
        raw: list[tuple[int, int, _Entry]] = []
        for automaton, text in ((self._ci, sent.lower()), (self._cs, sent)):
            if not len(automaton):
                continue
            for end, entries in automaton.iter(text):
                for e in entries:
                    start = end - e.length + 1
                    if _boundary(sent, start, end + 1):
                        raw.append((start, end + 1, e))
        excluded = [(a, b) for a, b, e in raw if e.kind == "exclude"]
        return [(a, b, e) for a, b, e in raw
                if e.kind != "exclude" and not any(x <= a and b <= y for x, y in excluded)]

    @staticmethod
    def _leftmost_longest(hits: list[tuple[int, int, _Entry]]) -> list[tuple[int, int, _Entry]]:
        chosen: list[tuple[int, int, _Entry]] = []
        taken_until = -1
        for a, b, e in sorted(hits, key=lambda h: (h[0], -(h[1] - h[0]))):
            if a >= taken_until:
                chosen.append((a, b, e))
                taken_until = b
            elif chosen and chosen[-1][0] == a and chosen[-1][1] == b:
                chosen.append((a, b, e))  # the same phrase listed for two tags counts for both
        return chosen

    def analyse(self, title: str, text: str) -> tuple[dict[str, Match], dict[str, int]]:
        """Tags (each with the sentences that prove it) and relevance-signal counts, in one pass."""
        folded_sents = [fold(s) for s in sentences(f"{title}.\n{text}" if title else text)]
        whole = " ".join(folded_sents).lower()
        found: dict[str, Match] = {}
        signals = dict.fromkeys(self.signal_groups, 0)
        weak_ok: dict[str, bool] = {}
        for n, sent in enumerate(folded_sents):
            hits = self._hits(sent)
            for _, _, e in self._leftmost_longest([h for h in hits if h[2].kind == "signal"]):
                signals[e.name] += 1
            for _, _, e in self._leftmost_longest([h for h in hits if h[2].kind == "tag"]):
                if e.weak and e.name not in found:
                    if e.name not in weak_ok:
                        weak_ok[e.name] = self._weak_ok(self.tags[e.name], whole)
                    if not weak_ok[e.name]:
                        continue
                hit = found.setdefault(e.name, Match(slug=e.name, evidence=sent, first=n))
                hit.first = min(hit.first, n)
                hit.count += 1
                if sent not in hit.sentences:
                    hit.sentences.append(sent)
        return found, signals

    def match(self, title: str, text: str) -> dict[str, Match]:
        return self.analyse(title, text)[0]

    def signal_counts(self, title: str, text: str) -> dict[str, int]:
        return self.analyse(title, text)[1]

    @staticmethod
    def _weak_ok(tag: Tag, whole: str) -> bool:
        if any(re.search(rf"(?<!\w){re.escape(v)}(?!\w)", whole) for v in tag.veto):
            return False
        return any(re.search(rf"(?<!\w){re.escape(c)}(?!\w)", whole) for c in tag.context)


@lru_cache(maxsize=4)
def load(path: Path, *more: Path | None) -> Taxonomy:
    """The taxonomy file plus any extra files of tags (the gazetteer), as one matcher."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for extra in filter(None, more):
        with open(extra, encoding="utf-8") as fh:
            data["tags"] = list(data.get("tags", [])) + list(yaml.safe_load(fh).get("tags", []))
    return Taxonomy(data)
