"""The taxonomy (YAML that analysts edit) compiled into one matcher.

All aliases of all tags go into Aho-Corasick automata, so matching an article is one pass over
its text however many aliases there are, instead of one regex per alias per article. Which hits
make a tag follows tests/data/TAGGING_GUIDE.md: entities tag on any mention, topics only when
they are in the headline or lead or fill two sentences (`evidence` in the YAML). Context and veto
words ride in the same automata, so deciding an ambiguous alias costs no second scan.
"""
from __future__ import annotations

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
#: Hyphens match spaces ("facial-recognition", "AI-enabled"): one character for one, so offsets hold.
_HYPHENS = str.maketrans({"-": " ", "\u2010": " ", "\u2011": " "})


@dataclass(frozen=True)
class Tag:
    slug: str
    label: str
    parent: str | None
    relevance: str
    context: tuple[str, ...] = ()
    veto: tuple[str, ...] = ()
    evidence: str = "mention"  #: mention (entities: any mention) | topic (headline, lead or two sentences)
    context_scope: str = "article"  #: where a weak alias looks for a context word: article | sentence


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
    kind: str  # tag | signal | exclude | part (one side of a co-occurrence rule) | context | veto
    name: str  # slug, signal group, or "slug#side" for a part
    weak: bool
    length: int
    plural: bool = False  #: a trailing "s"/"es" still matches (topic words: "tender" finds "tenders")
    vetoable: bool = False  #: a strong alias that the tag's veto words still cancel ("tender" beside "oven")


def _key(phrase: str, case_sensitive: bool) -> str:
    """The matching form shared by aliases and text: folded, hyphens as spaces, lower-cased unless
    capitals are what identify the phrase."""
    key = (phrase if phrase.isascii() else fold(phrase)).translate(_HYPHENS)
    return key if case_sensitive else key.lower()


def _pluralisable(phrase: str) -> bool:
    """Lower-case words of a topic take a plural; names and acronyms do not ("Liberty" is not
    "Liberties", "LFR" stays "LFR")."""
    last = phrase.rsplit(" ", 1)[-1]
    return last.isalpha() and last.islower() and len(last) > 2


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
    many aliases the taxonomy and gazetteer hold; overlapping hits resolve leftmost-longest, except
    that every tag keeps its longest hit at the start position that wins (one tag's longer phrase
    does not swallow another tag's shorter one beginning at the same word).
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.tags: dict[str, Tag] = {}
        self._ci = ahocorasick.Automaton()
        self._cs = ahocorasick.Automaton()

        def add(phrase: str, entry: _Entry, case_sensitive: bool) -> None:
            key = _key(phrase, case_sensitive)
            automaton = self._cs if case_sensitive else self._ci
            existing = automaton.get(key, ())
            new = _Entry(entry.kind, entry.name, entry.weak, len(key), entry.plural, entry.vetoable)
            if new not in existing:
                automaton.add_word(key, (*existing, new))

        #: slug -> number of sides of its co-occurrence rule (all sides in one sentence make a hit)
        self._cooccur: dict[str, int] = {}
        for entry in data.get("tags", []):
            parent = entry.get("parent")
            evidence = entry.get("evidence") or ("topic" if parent in TOPIC_PARENTS else "mention")
            if evidence not in ("mention", "topic"):
                raise ValueError(f"tag {entry['slug']}: evidence must be mention or topic, not {evidence!r}")
            scope = entry.get("context_scope") or "article"
            if scope not in ("article", "sentence"):
                raise ValueError(f"tag {entry['slug']}: context_scope must be article or sentence, not {scope!r}")
            tag = Tag(slug=entry["slug"], label=entry.get("label", entry["slug"]), parent=parent,
                      relevance=entry.get("relevance", "none"),
                      context=tuple(fold(c).lower() for c in entry.get("context") or []),
                      veto=tuple(fold(v).lower() for v in entry.get("veto") or []), evidence=evidence,
                      context_scope=scope)
            self.tags[tag.slug] = tag
            topic = evidence == "topic"
            sides = entry.get("cooccur") or []
            if sides:
                self._cooccur[tag.slug] = len(sides)
            for side, words in enumerate(sides):
                for word in words:
                    add(word, _Entry("part", f"{tag.slug}#{side}", False, 0, topic and _pluralisable(word)),
                        _is_acronym(word))
            for alias in entry.get("aliases") or []:
                add(alias, _Entry("tag", tag.slug, False, 0, topic and _pluralisable(alias)), _is_acronym(alias))
            for alias in entry.get("vetoable") or []:
                add(alias, _Entry("tag", tag.slug, False, 0, topic and _pluralisable(alias), True), _is_acronym(alias))
            for alias in entry.get("weak") or []:
                case_sensitive = bool(entry.get("case_sensitive_weak")) or _is_acronym(alias)
                add(alias, _Entry("tag", tag.slug, True, 0, topic and _pluralisable(alias)), case_sensitive)
            # Context and veto words: case-insensitive, whole words, and a lower-case word takes its
            # plural like a topic alias does ("tool" finds "tools", "striker" finds "strikers").
            for word in entry.get("context") or []:
                add(fold(word).lower(), _Entry("context", tag.slug, False, 0, _pluralisable(fold(word))), False)
            for word in entry.get("veto") or []:
                add(fold(word).lower(), _Entry("veto", tag.slug, False, 0, _pluralisable(fold(word))), False)
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
        ("Cambridgeshire police and crime panel" names the panel, not the force). Context and veto
        words are reported too, and no exclusion hides them ("Met Gala" is excluded and a veto)."""
        raw: list[tuple[int, int, _Entry]] = []
        cs = _key(sent, True)
        for automaton, text in ((self._ci, cs.lower()), (self._cs, cs)):
            if not len(automaton):
                continue
            for end, entries in automaton.iter(text):
                for e in entries:
                    start, stop = end - e.length + 1, end + 1
                    if not _boundary(sent, start, stop):
                        if not e.plural:
                            continue
                        stop += 1 if sent[stop:stop + 1] == "s" else 2 if sent[stop:stop + 2] == "es" else 0
                        if stop == end + 1 or not _boundary(sent, start, stop):
                            continue
                    raw.append((start, stop, e))
        excluded = [(a, b) for a, b, e in raw if e.kind == "exclude"]
        if not excluded:
            return raw
        return [(a, b, e) for a, b, e in raw if e.kind != "exclude" and (
            e.kind in ("context", "veto") or not any(a < y and x < b for x, y in excluded))]

    def positions(self, text: str) -> list[tuple[int, str]]:
        """(offset, slug) of each strong alias in one sentence, in order: who a headline names
        first. Weak aliases are left out (they need the article's context to count)."""
        return [(a, e.name) for a, _, e in self._leftmost_longest(
            [h for h in self._hits(text if text.isascii() else fold(text)) if h[2].kind == "tag" and not h[2].weak])]

    @staticmethod
    def _leftmost_longest(hits: list[tuple[int, int, _Entry]]) -> list[tuple[int, int, _Entry]]:
        """Leftmost-longest, per name at the start it wins: where the chosen hit starts, the longest hit
        of every other name starting there counts too ("facial recognition van" is
        `live-facial-recognition` and its first two words still `facial-recognition`), while a hit
        starting inside a chosen span is hidden ("Biometrics Commissioner" inside "Scottish
        Biometrics Commissioner")."""
        chosen: list[tuple[int, int, _Entry]] = []
        taken_until, start = -1, -1
        names: set[str] = set()
        for a, b, e in sorted(hits, key=lambda h: (h[0], -(h[1] - h[0]))):
            if a >= taken_until:
                chosen.append((a, b, e))
                taken_until, start, names = b, a, {e.name}
            elif a == start and e.name not in names:
                chosen.append((a, b, e))
                names.add(e.name)
        return chosen

    def analyse(self, title: str, text: str) -> tuple[dict[str, Match], dict[str, int]]:
        """Tags (each with the sentences that prove it) and relevance-signal counts, in one pass."""
        folded_sents = [s if s.isascii() else fold(s) for s in sentences(f"{title}.\n{text}" if title else text)]
        found: dict[str, Match] = {}
        signals = dict.fromkeys(self.signal_groups, 0)
        per_sentence = [self._hits(sent) for sent in folded_sents]
        #: slugs with a context word in the article, and slugs vetoed anywhere in it
        context = {e.name for hits in per_sentence for _, _, e in hits if e.kind == "context"}
        vetoed = {e.name for hits in per_sentence for _, _, e in hits if e.kind == "veto"}
        for n, (sent, hits) in enumerate(zip(folded_sents, per_sentence, strict=True)):
            for _, _, e in self._leftmost_longest([h for h in hits if h[2].kind == "signal"]):
                signals[e.name] += 1
            # A weak alias that its context does not confirm is no hit at all, so it hides nothing it
            # overlaps ("Information Commissioner's Office" unconfirmed as `ico` leaves the shorter
            # "Information Commissioner" of another tag standing).
            chosen = self._leftmost_longest([(a, b, e) for a, b, e in hits if e.kind == "tag" and (
                self._weak_ok(self.tags[e.name], e.name in vetoed, context, self._beside(hits, a, b)) if e.weak
                else not (e.vetoable and e.name in vetoed))])
            if self._cooccur:  # beside, not through, leftmost-longest: the span would hide hits inside it
                chosen += self._cooccurring(hits)
            for _, _, e in chosen:
                hit = found.setdefault(e.name, Match(slug=e.name, evidence=sent, first=n))
                hit.first = min(hit.first, n)
                hit.count += 1
                if sent not in hit.sentences:
                    hit.sentences.append(sent)
        return found, signals

    @staticmethod
    def _beside(hits: list[tuple[int, int, _Entry]], a: int, b: int) -> set[str]:
        """Tags with a context word in the sentence beside the span a..b, not inside it ("supplier" is
        both an alias and a context word of `procurement`, and is not its own context)."""
        return {c.name for x, y, c in hits if c.kind == "context" and (y <= a or x >= b)}

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
    def _weak_ok(tag: Tag, vetoed: bool, article: set[str], sentence: set[str]) -> bool:
        """No veto word in the article, and a context word when the tag lists any (a tag with veto
        words alone, such as `peterborough`, needs no context), in the same sentence when the tag's
        context_scope says so ("contract" is procurement beside a word of buying and selling, not
        because "supplier" turns up three paragraphs from a footballer's contract)."""
        if vetoed:
            return False
        if not tag.context:
            return True
        return tag.slug in (sentence if tag.context_scope == "sentence" else article)


@lru_cache(maxsize=4)
def load(path: Path, *more: Path | None) -> Taxonomy:
    """The taxonomy file plus any extra files of tags (the gazetteer), as one matcher."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for extra in filter(None, more):
        with open(extra, encoding="utf-8") as fh:
            data["tags"] = list(data.get("tags", [])) + list(yaml.safe_load(fh).get("tags", []))
    return Taxonomy(data)
