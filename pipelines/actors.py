"""Who acts and where, as a headline and first paragraph name them: the event's actors and places.

The story rule (tests/data/TAGGING_GUIDE.md, "Stories and threads") makes an event "one thing that
happened at one time, done by identifiable actors". Two reports of one event name the same force,
body, company or town in their headline and lead; two forces doing the same kind of thing in the
same week (two trials, two arrests, two awards) name different ones however alike their words.

Actors come from two places, both cheap: the taxonomy and gazetteer entities (so "City Hall" and
"the Mayor's Office for Policing and Crime" are both `mopac`, "Scotland Yard" the Met), and proper
names, i.e. words a writer capitalises in mid-sentence, so forces, towns and firms no list knows
still count. Generic capitalised words (titles, institution kinds, days, technology acronyms) say
nothing about who acted and are left out.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from pipelines.taxonomy import TOPIC_PARENTS, Taxonomy
from pipelines.text import fold

#: Words of the lead (after the headline) read for actors: the first paragraph of a news report.
LEAD_WORDS = 40
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z'-]*[A-Za-z]")
_NAME_FOLLOWS = re.compile(r"\s+[A-Z][a-z]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")
_LOWER = re.compile(r"\b[a-z][a-z'-]*[a-z]")
#: After one of these the next word is capitalised by grammar, not because it is a name.
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|[\"'(\[]\s*|\s[-–—]\s+)$")
#: Capitalised words that name a kind of institution, office, title, time or technology, not who:
#: "Police" in "Northmere Police" is shared by every force, the name is "Northmere".
GENERIC = frozenset("""
a an the this that these those it its i we he she they his her their our you my there here
if in on at of for from to by with as after before amid despite while when what who why how
and but or not no yes new more most all some one two three first last next
police policing constabulary constable constables force forces officer officers service services
council councils borough county city district cabinet committee board assembly parliament
government ministry department office home mayor mayors commissioner commissioners chief
deputy detective superintendent inspector sergeant minister secretary chair spokesperson
sir mr mrs ms dr lord lady dame prof cllr mp mps
court courts high crown tribunal judge justice
union group campaign campaigners trust authority authorities agency national royal
uk britain british england english london's street road
monday tuesday wednesday thursday friday saturday sunday
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec
ai lfr frt anpr cctv dfr bwv gdpr dpia foi it tech data
live facial recognition drone drones camera cameras chatbot software system
comment analysis explainer opinion editorial alert exclusive breaking update letters letter
update reaction watch video
yesterday today tomorrow tonight every about
""".split())


@lru_cache(maxsize=65536)
def _key(word: str) -> str:
    """The name as compared (of folded text): lower-case, without a possessive or a compound's tail
    ("Palantir-based" is Palantir, "AI-enabled" is AI)."""
    word = word.lower().split("-")[0]
    for suffix in ("'s", "'"):
        if word.endswith(suffix):
            word = word[: -len(suffix)]
    return word


def names(text: str) -> set[str]:
    """The names a writer uses in (folded) `text`: words capitalised in mid-sentence; at a
    sentence's start, a word before another capitalised one ("Kingsferry Police said") or one that
    starts sentences more than once and never appears in lower case ("Wexmoor launches ...", not
    "Just")."""
    lower = {_key(w) for w in set(_LOWER.findall(text))}
    out: set[str] = set()
    initial: Counter[str] = Counter()
    for m in _CAPITALISED.finditer(text):
        word = m.group()
        if len(word) > 5 and word.isupper():  # a shouted word, not an acronym
            continue
        key = _key(word)
        if len(key) < 2 or key in GENERIC:
            continue
        if _SENTENCE_START.search(text[max(0, m.start() - 4):m.start()]):
            if _NAME_FOLLOWS.match(text, m.end()):
                out.add(key)
            elif key not in lower:
                initial[key] += 1
            continue
        out.add(key)
    return out | {k for k, n in initial.items() if n > 1}


#: Sentences of the text (after the headline, sentence 0) that count as the lead for entities.
LEAD_SENTENCES = 2
#: Words of the text the taxonomy reads for entities under any alias ("City Hall" is MOPAC): the
#: lead and the sentences after it, where a report names who is involved. Further on, names and
#: words still count as mentions; matching all of a long article would double the stage's cost.
ENTITY_WORDS = 60
#: Words that end a headline's main clause: what follows is background ("... after audit").
_SUBORDINATE = frozenset("after despite as while amid following since because before until over".split())


@dataclass(frozen=True)
class Actors:
    """Who an article says acted: `lead` = the actors and places its headline and first paragraph
    name, `mentions` = everything it names anywhere (to check another report's actors against),
    `subject` = the actor its headline names first, usually who did the thing reported. Entities
    are `entity:<slug>`, names `name:<word>`."""
    lead: frozenset[str]
    mentions: frozenset[str]
    subject: str | None


def who_acts(title: str, text: str, taxonomy: Taxonomy | None = None) -> Actors:
    """An article's actors. A name counts when the writer uses it as a name in the body (so a
    headline in title case or capitals adds only names the body confirms); every word of the
    article is a mention."""
    title, body = fold(title or ""), fold(text or "")
    lead = " ".join(body.split()[:LEAD_WORDS])
    known = {f"name:{w}" for w in names(body)}  # headlines shout and title-case: the body decides
    found = {f"name:{_key(m.group())}" for m in _CAPITALISED.finditer(f"{title} {lead}")} & known
    mentioned = {f"name:{_key(w)}" for w in set(_WORD.findall(f"{title} {body}"))}
    if taxonomy is not None:
        for slug, hit in taxonomy.match(title, " ".join(body.split()[:ENTITY_WORDS])).items():
            if taxonomy.tags[slug].parent not in TOPIC_PARENTS:
                mentioned.add(f"entity:{slug}")
                if hit.first <= LEAD_SENTENCES:
                    found.add(f"entity:{slug}")
    return Actors(frozenset(found), frozenset(mentioned), _subject(title, known, taxonomy))


def _subject(title: str, known: set[str], taxonomy: Taxonomy | None) -> str | None:
    """The actor a headline names first in its main clause ("Rowley pledges new checks after audit"
    is Rowley's act, not the auditor's)."""
    cut = len(title)
    for m in _LOWER.finditer(title):
        if m.group() in _SUBORDINATE:
            cut = m.start()
            break
    head = title[:cut]
    found = [(m.start(), f"name:{_key(m.group())}") for m in _CAPITALISED.finditer(head)]
    found = [(at, key) for at, key in found if key in known]
    if taxonomy is not None:
        found += [(at, f"entity:{slug}") for at, slug in taxonomy.positions(head)
                  if taxonomy.tags[slug].parent not in TOPIC_PARENTS]
    return min(found)[1] if found else None
