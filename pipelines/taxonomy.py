"""The taxonomy (YAML that analysts edit) compiled into one matcher.

All aliases of all tags go into Aho-Corasick automata, so matching an article is one pass over
its text however many aliases there are, instead of one regex per alias per article. Which hits
make a tag follows tests/data/TAGGING_GUIDE.md: entities tag on any mention, topics only when
they are in the headline or lead or fill two sentences (`evidence` in the YAML).
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

#: Sentences after the title that count as the lead: where a news report says what it is about.
LEAD_SENTENCES = 3
#: Parents whose tags are topics (evidence "topic") unless an entry says otherwise.
TOPIC_PARENTS = frozenset({"topics", "technologies"})


@dataclass(frozen=True)
class Tag:
    slug: str
    label: str
    parent: str | None
    relevance: str
    context: tuple[str, ...] = ()
    veto: tuple[str, ...] = ()
    evidence: str = "mention"  #: mention (entities: any mention) | topic (headline, lead or two sentences)


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
    kind: str  # tag | signal | exclude | part (one side of a co-occurrence rule)
    name: str  # slug, signal group, or "slug#side" for a part
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

        #: slug -> number of sides of its co-occurrence rule (all sides in one sentence make a hit)
        self._cooccur: dict[str, int] = {}
        for entry in data.get("tags", []):
            parent = entry.get("parent")
            evidence = entry.get("evidence") or ("topic" if parent in TOPIC_PARENTS else "mention")
            if evidence not in ("mention", "topic"):
                raise ValueError(f"tag {entry['slug']}: evidence must be mention or topic, not {evidence!r}")
            tag = Tag(slug=entry["slug"], label=entry.get("label", entry["slug"]), parent=parent,
                      relevance=entry.get("relevance", "none"),
                      context=tuple(fold(c).lower() for c in entry.get("context") or []),
                      veto=tuple(fold(v).lower() for v in entry.get("veto") or []), evidence=evidence)
            self.tags[tag.slug] = tag
            sides = entry.get("cooccur") or []
            if sides:
                self._cooccur[tag.slug] = len(sides)
            for side, words in enumerate(sides):
                for word in words:
                    add(word, _Entry("part", f"{tag.slug}#{side}", False, 0), _is_acronym(word))
            for alias in entry.get("aliases") or []:
                add(alias, _Entry("tag", tag.slug, False, 0), _is_acronym(alias))
            for alias in entry.get("weak") or []:
                case_sensitive = bool(entry.get("case_sensitive_weak")) or _is_acronym(alias)
                add(alias, _Entry("tag", tag.slug, True, 0), case_sensitive)
            for phrase in entry.get("exclude") or []:
                add(phrase, _Entry("exclude", "", False, 0), False)
        self.signal_groups = list((data.get("signals") or {}).keys())
        for group, words in (data.get("signals") or {}).items():
            for word in words:  # acronyms ("AI") match case-sensitively, words not
                add(word, _Entry("signal", group, False, 0), _is_acronym(word))
        for automaton in (self._ci, self._cs):
            if len(automaton):
                automaton.make_automaton()

    def _hits(self, sent: str) -> list[tuple[int, int, _Entry]]:
        """(start, end, entry) for every boundary-respecting hit, hits touching an excluded span removed
        ("Cambridgeshire police and crime panel" names the panel, not the force)."""
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
                if e.kind != "exclude" and not any(a < y and x < b for x, y in excluded)]

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
            chosen = self._leftmost_longest([h for h in hits if h[2].kind == "tag"])
            if self._cooccur:  # beside, not through, leftmost-longest: the span would hide hits inside it
                chosen += self._cooccurring(hits)
            for _, _, e in chosen:
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

    def _cooccurring(self, hits: list[tuple[int, int, _Entry]]) -> list[tuple[int, int, _Entry]]:
        """A tag hit spanning the parts when every side of a tag's co-occurrence rule is in the sentence
        ("criminals" and "AI" together are `ai-crime`; either alone is not)."""
        spans: dict[str, dict[int, tuple[int, int]]] = {}
        for a, b, e in hits:
            if e.kind == "part":
                slug, side = e.name.rsplit("#", 1)
                spans.setdefault(slug, {}).setdefault(int(side), (a, b))
        out = []
        for slug, sides in spans.items():
            if len(sides) == self._cooccur[slug]:
                a, b = min(x for x, _ in sides.values()), max(y for _, y in sides.values())
                out.append((a, b, _Entry("tag", slug, False, b - a)))
        return out

    def match(self, title: str, text: str) -> dict[str, Match]:
        """Every tag with at least one hit, before the evidence rule (see `tag`)."""
        return self.analyse(title, text)[0]

    def substantive(self, found: dict[str, Match], has_title: bool = True) -> dict[str, Match]:
        """The hits that make tags: entities on any mention; topics when in the headline or lead, or
        in at least two sentences (tests/data/TAGGING_GUIDE.md)."""
        lead = LEAD_SENTENCES + (1 if has_title else 0)  # sentence 0 is the title
        return {slug: hit for slug, hit in found.items()
                if self.tags[slug].evidence == "mention" or hit.first < lead or len(hit.sentences) >= 2}

    def tag(self, title: str, text: str) -> dict[str, Match]:
        """The article's tags, each with the sentences that prove it."""
        return self.substantive(self.match(title, text), bool(title))

    def signal_counts(self, title: str, text: str) -> dict[str, int]:
        return self.analyse(title, text)[1]

    @staticmethod
    def _weak_ok(tag: Tag, whole: str) -> bool:
        """No veto word in the article, and a context word when the tag lists any (a tag with veto
        words alone, such as `peterborough`, needs no context)."""
        if any(re.search(rf"(?<!\w){re.escape(v)}(?!\w)", whole) for v in tag.veto):
            return False
        return not tag.context or any(re.search(rf"(?<!\w){re.escape(c)}(?!\w)", whole) for c in tag.context)


@lru_cache(maxsize=4)
def load(path: Path, *more: Path | None) -> Taxonomy:
    """The taxonomy file plus any extra files of tags (the gazetteer), as one matcher."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for extra in filter(None, more):
        with open(extra, encoding="utf-8") as fh:
            data["tags"] = list(data.get("tags", [])) + list(yaml.safe_load(fh).get("tags", []))
    return Taxonomy(data)
