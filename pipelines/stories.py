"""Story grouping: articles from different outlets about the same event share a `story_id`.

A story is one event (tests/data/TAGGING_GUIDE.md, "Stories and threads"). Incremental and
time-windowed: in first-seen order, an article joins the open story it is most similar to, or starts
a new one. Similarity is TF-IDF cosine to the story's pooled headlines and leads (with the kind of
action each headline reports as a term, so "court fight" and "legal challenge" meet), or to its
pooled bodies, figures included (analyses and comment re-tell their event's particulars under
headlines of their own). Topic similarity alone never decides: a headline whose action differs
from the story's (a warning vs an extension), or that announces a follow-up action (a legal threat,
a meeting, a U-turn) more than half a day after the story began, starts a new story, which
`threads` then links to the saga. Who acts decides too (pipelines/actors.py): a headline and lead
whose actors and places the story never mentions, or the other way round, report another event
(two forces' trials the same week); a headline whose first-named actor the story's leads never
named, over half a day on, reports a new act (a pledge the day after an audit); the same actor the
same morning counts similarity 1.5 times, and stories naming an article's actors are always
compared with it, so comment and reaction pieces in their own words meet their event. Threads link
only stories whose actors meet. Duplicates take their original's story. This stage is last, so it
also marks articles processed.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Set
from datetime import timedelta
from typing import Any

from core.settings import Settings
from pipelines.actors import who_acts
from pipelines.taxonomy import Taxonomy, load
from pipelines.text import fold
from storage import articles as store
from storage.db import get_engine, read, write

OPEN_FOR = timedelta(days=3)
#: Cosine similarity to a story's centroid needed to join it. With the event-kind vetoes guarding
#: precision, 0.10 and 0.12 tied on the dev corpora (story pair F1 0.986 / 0.948) and 0.10 was
#: better on the demo's (0.68 vs 0.59); 0.15 lost recall everywhere.
JOIN_AT = 0.10
LEAD_WORDS = 40
#: How many of an article's strongest terms it looks up; stories sharing none are never compared.
INDEX_TERMS = 12
_WORD = re.compile(r"[a-z][a-z'-]+|\d+")
_STOP = frozenset("the a an of to in and or for on at by with from as is was are were be been that this it its "
                  "their his her they he she said says will would could has have had not but than which who "
                  "what when into over after about more also new".split())

Vector = dict[str, float]


def words(title: str, text: str) -> Counter[str]:
    """Title twice (headlines name the event) plus the lead, lower-cased, stop words dropped."""
    lead = " ".join((text or "").split()[:LEAD_WORDS])
    found = _WORD.findall(fold(f"{title} {title} {lead}").lower())
    counts = Counter(w for w in found if w not in _STOP and len(w) > 2)
    for kind in event_kinds(title):  # "court fight" and "legal challenge" name one action
        counts[f"kind:{kind}"] += 2
    return counts


#: Money, counts, percentages and reference numbers, with their unit so "£50m" and "50 officers" differ.
_FIGURE = re.compile(r"(£|\$|€)?\s?(\d[\d,]*(?:\.\d+)?)\s?(%|per cent|bn|billion|m\b|million|k\b)?", re.I)
_SCALE = {"bn": 1e9, "billion": 1e9, "m": 1e6, "million": 1e6, "k": 1e3}


def figures(text: str) -> list[str]:
    """Figures as tokens, "£50m", "£50 million" and "£50,000,000" alike; years and numbers up to 12
    (in every article) left out. Two reports of one event share its figures; a later event of the
    same saga shares only the background ones."""
    out = []
    for m in _FIGURE.finditer(text):
        cur, num, unit = m.group(1) or "", m.group(2).replace(",", ""), (m.group(3) or "").lower()
        try:
            value = float(num)
        except ValueError:
            continue
        if unit in _SCALE:
            value, unit = value * _SCALE[unit], ""
        if not cur and not unit and (value <= 12 or (1990 <= value <= 2100 and "." not in num)):
            continue
        out.append(f"fig:{cur}{value:g}{'%' if unit else ''}")
    return out


def body_words(text: str) -> Counter[str]:
    """The whole text: a comment piece or analysis re-tells its event's particulars (names, places,
    figures) in the body even when its headline and lead are its own."""
    folded = fold(text)
    counts = Counter(w for w in _WORD.findall(folded.lower()) if w not in _STOP and len(w) > 2)
    counts.update(figures(folded))
    return counts


#: Body similarity counts for this share of headline-and-lead similarity (0.8 of 0, 0.4, 0.6, 0.8, 1.0, 1.2
#: was best on the dev corpora; 1.0 merged sagas: the headline names the event
#: most precisely; the body catches the analyses and comment whose headlines are their own).
BODY_SHARE = 0.8


def tfidf(docs: dict[str, Counter[str]]) -> dict[str, Vector]:
    """IDF over the window: words every story shares ("Met", "Palantir") weigh little."""
    df: Counter[str] = Counter(w for d in docs.values() for w in d)
    n = len(docs)
    return {i: {w: (1 + math.log(c)) * math.log(n / df[w]) for w, c in d.items()} for i, d in docs.items()}


def cosine(a: Vector, b: Vector) -> float:
    num = sum(v * b.get(w, 0.0) for w, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return num / (na * nb) if na and nb else 0.0


#: Kinds of event a headline announces, by the words that announce them (tests/data/TAGGING_GUIDE.md,
#: "Stories and threads": the news peg is the action the headline reports). Two headlines that both
#: name an action, but different ones, report different events however much vocabulary they share
#: (the Commissioner *warns* the day the Met *extends* a pilot).
EVENT_KINDS: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "legal": "court courts legal lawsuit lawsuits sue sues suing judicial tribunal litigation injunction",
    "meeting": "meeting meetings hearing consultation",
    "extension": "extends extended extend extension prolongs renews renewed reprieve",
    "tender": "tender tenders bidders retender re-tender",
    "block": "blocks blocked halts halted scraps scrapped veto vetoes vetoed rejects rejected refuses",
    "complaint": "complaint complaints complain complains",
    "protest": "protest protests protesters rally",
    "vote": "vote votes voted ballot",
    "reversal": "u-turn reverse reverses reversed pause pauses paused suspend suspends suspended abandon abandons "
                "abandoned withdraw withdraws withdrawn",
    "arrest": "arrest arrested arrests charged",
    "warning": "warns warning warned",
    "discipline": "disciplined sacked dismissed reprimanded demoted",
    "launch": "launch launches launched unveils rollout deployed",
}.items()}
#: Actions that only ever follow an earlier event (a claim over a decision, a meeting about a
#: proposal, an extension, a U-turn): a headline announcing one that a story's headlines do not,
#: this long after the story began, starts a new story on the same thread. Sooner, it is the same
#: news told another way.
FOLLOW_UP_KINDS = frozenset({"legal", "meeting", "extension", "complaint", "protest", "vote", "reversal"})
FOLLOW_UP_AFTER = timedelta(hours=12)
_TITLE_WORD = re.compile(r"[a-z][a-z'-]+")


#: Words that end a headline's main clause: what follows is background ("... despite City Hall veto",
#: "... after London blocks Met contract"), and background recaps never decide the event.
_SUBORDINATE = frozenset("after despite as while amid following since because before until".split())


def event_kinds(title: str) -> frozenset[str]:
    """The kinds of action a headline's main clause reports."""
    words: set[str] = set()
    for w in _TITLE_WORD.findall(fold(title or "").lower()):
        if w in _SUBORDINATE:
            break
        words.add(w)
    return frozenset(k for k, announcing in EVENT_KINDS.items() if announcing & words)


#: Kinds that name one action in other words: a trial "halted" (block) is a trial "paused" (reversal).
KIN_KINDS = {"block": frozenset({"reversal"}), "reversal": frozenset({"block"})}


def other_event(kinds: frozenset[str], story_kinds: set[str], after_start: timedelta) -> bool:
    """Whether a headline's actions say it reports another event than the story's headlines."""
    kin = kinds.union(*(KIN_KINDS.get(k, frozenset()) for k in kinds))
    if kinds and story_kinds and not kin & story_kinds:
        return True
    return bool((kinds & FOLLOW_UP_KINDS) - story_kinds) and after_start > FOLLOW_UP_AFTER


THREAD_DAYS = timedelta(days=30)
#: Headline similarity that makes a new story the next development of an earlier one (a thread,
#: the saga of many events); measured on the corpus's labelled sagas (README).
THREAD_AT = 0.1
#: A story's vector pools all its articles, so it looks up more of its strongest terms.
THREAD_INDEX_TERMS = 25
#: At most this many earlier stories are considered for a thread.
THREAD_CANDIDATES = 2000


def story_actors(leads: list[str], taxonomy: Taxonomy) -> tuple[set[str], set[str]]:
    """A story's actors and mentions, pooled over its articles' "headline. opening text" leads."""
    lead_actors: set[str] = set()
    mentions: set[str] = set()
    for lead in leads:
        title, _, text = lead.partition(". ")
        found = who_acts(title, text, taxonomy)
        lead_actors.update(found.lead)
        mentions.update(found.mentions)
    return lead_actors, mentions


def _default_taxonomy() -> Taxonomy:
    defaults = Settings()
    return load(defaults.taxonomy, defaults.gazetteer)


def threads(rows: list[dict[str, Any]], new_ids: set[str], taxonomy: Taxonomy | None = None) -> dict[str, str]:
    """thread_id for each story in `new_ids`: the thread of the most similar earlier story (TF-IDF
    over its articles' headlines and leads), else a thread of its own. Earlier stories keep theirs.
    Candidates come from an inverted index of distinctive terms, as for stories. A saga is one
    contract, deployment or policy, so its stories name the same actors: two forces' trials that
    read alike are two threads."""
    vectors = tfidf({r["id"]: sum((words(lead, "") for lead in r.get("leads") or [r["headline"]]), Counter())
                     for r in rows})
    taxonomy = taxonomy or _default_taxonomy()
    who = {r["id"]: story_actors(r.get("leads") or [r["headline"]], taxonomy) for r in rows}
    out: dict[str, str] = {}
    postings: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        vec = vectors[row["id"]]
        if row["id"] in new_ids or not row.get("thread_id"):
            best, best_score = row["id"], THREAD_AT
            top = sorted(vec, key=vec.__getitem__, reverse=True)[:THREAD_INDEX_TERMS]
            for j in sorted(set().union(*(postings.get(t, ()) for t in top))):
                earlier = rows[j]
                if row["first_seen_at"] - earlier["last_seen_at"] > THREAD_DAYS:
                    continue
                if other_actors(who[row["id"]], who[earlier["id"]]):
                    continue
                score = cosine(vec, vectors[earlier["id"]])
                if score >= best_score:
                    best, best_score = out.get(earlier["id"], earlier["id"]), score
            out[row["id"]] = best
        else:
            out[row["id"]] = row["thread_id"]
        for t in vec:
            postings.setdefault(t, []).append(i)
    settled = {r["id"] for r in rows if r.get("thread_id")}
    return {k: v for k, v in out.items() if k in new_ids or k not in settled}


def story_id(first_article_id: str) -> str:
    return "s" + hashlib.sha256(first_article_id.encode()).hexdigest()[:15]


def representative(member: dict[str, Any]) -> tuple[Any, ...]:
    """Sort key choosing the copy that speaks for a cluster, and the order reports are placed in:
    published first, then by headline and text, so that ties do not fall to ids (hashes of URLs)."""
    return (member["published_at"], member["title"] or "", member["text"] or member["summary"] or "", member["id"])


def other_actors(mine: tuple[Set[str], Set[str]], story: tuple[Set[str], Set[str]]) -> bool:
    """Whether the headline and lead name actors or places that the story's articles never mention,
    or the other way round: another force, town or body doing its own thing
    (tests/data/TAGGING_GUIDE.md: same actors, same action, same occasion). Reports of one event
    name its actors somewhere, even when their leads begin with a district or a victim."""
    (lead, mentions), (story_lead, story_mentions) = mine, story
    if not lead or not story_lead:
        return False
    return not lead & story_mentions or not story_lead & mentions


def new_actor(doer: str | None, story_lead: Set[str], after_start: timedelta) -> bool:
    """Whether a headline reports a later act by someone the story's leads never named: the
    Commissioner's pledge the day after an audit, a body opening a tender days after a union's
    complaint (tests/data/TAGGING_GUIDE.md: a new action by someone at a later time)."""
    return doer is not None and after_start > FOLLOW_UP_AFTER and doer not in story_lead


#: An actor named by more open stories than this (the capital's force in a busy week) names no one
#: event: looking its stories up would compare an article with most of the window.
ACTOR_LOOKUP_MAX = 20
#: Same actor, same day: similarity counts this much more (the trade paper's "goes live" piece on a
#: force's launch shares few words with the wire's but names the same force the same morning).
SAME_ACTOR_BOOST = 1.5


def same_occasion(doer: str | None, story_lead: Set[str], after_start: timedelta) -> bool:
    """Whether the headline's first-named actor is one the story's leads name, within half a day."""
    return doer is not None and doer in story_lead and after_start <= FOLLOW_UP_AFTER


def assign(rows: list[dict[str, Any]], pending_ids: set[str], taxonomy: Taxonomy | None = None) -> dict[str, str]:
    """story_id for every row; settled rows keep theirs.

    Candidate stories come from an inverted index: a new article looks up its most distinctive
    terms and is compared only with the open stories that contain one of them, not with all.
    """
    # Each report is placed once, for its whole cluster of copies, by the copy published first
    # (ties: headline, text, then id). Which copy is the "original" depends on crawl order (first
    # seen), and ids on the URL (a port, a tracking parameter), so nothing here may depend on
    # either: the story is then the same on every run and every machine.
    clusters: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        clusters.setdefault(r["duplicate_of"] or r["id"], []).append(r)
    first = {rid: min(members, key=representative) for rid, members in clusters.items()}
    vectors = tfidf({r["id"]: words(r["title"], r["text"] or r["summary"]) for r in rows})
    bodies = tfidf({rep["id"]: body_words(rep["text"] or rep["summary"] or "") for rep in first.values()})
    centroids: dict[str, tuple[Vector, Any]] = {}
    body_centroids: dict[str, tuple[Vector, float]] = {}  # pooled body vector and its norm
    postings: dict[str, set[str]] = {}
    out: dict[str, str] = {}
    story_kinds: dict[str, set[str]] = {}
    actors_of: dict[str, tuple[set[str], set[str]]] = {}
    taxonomy = taxonomy or _default_taxonomy()
    first_at: dict[str, Any] = {}
    opened_by: dict[str, tuple[Any, ...]] = {}  # story -> its first report's sort key
    ordered = sorted((r for r in rows if not r["duplicate_of"]), key=lambda r: representative(first[r["id"]]))
    for row in ordered:
        rid = row["id"]
        vec = vectors[first[rid]["id"]]
        kinds = event_kinds(first[rid]["title"])
        found = who_acts(first[rid]["title"], first[rid]["text"] or first[rid]["summary"] or "", taxonomy)
        who, doer = (found.lead, found.mentions), found.subject
        body_norm = math.sqrt(sum(v * v for v in bodies[first[rid]["id"]].values()))
        top = sorted(vec, key=vec.__getitem__, reverse=True)[:INDEX_TERMS]
        sid = row["story_id"] if rid not in pending_ids else None
        if sid is None:
            best, best_score = None, JOIN_AT
            # Stories naming one of its actors are candidates too: a comment or reaction piece's
            # headline words are its own, but it names whom the event is about.
            named = [a for a in who[0] if len(postings.get(a, ())) <= ACTOR_LOOKUP_MAX]
            # Candidates in the order their stories opened, and only a higher score displaces the
            # best so far: a tie goes to the older story whatever the ids are.
            for cand in sorted(set().union(*(postings.get(t, set()) for t in [*top, *named])),
                               key=opened_by.__getitem__):
                centroid, last = centroids[cand]
                if abs(row["published_at"] - last) > OPEN_FOR:
                    continue
                if other_event(kinds, story_kinds[cand], row["published_at"] - first_at[cand]):
                    continue
                if other_actors(who, actors_of[cand]):
                    continue
                if new_actor(doer, actors_of[cand][0], row["published_at"] - first_at[cand]):
                    continue
                score = cosine(vec, centroid)
                body, (centroid_body, centroid_norm) = bodies[first[rid]["id"]], body_centroids[cand]
                if centroid_norm and body_norm:
                    shared = sum(v * centroid_body.get(w, 0.0) for w, v in body.items())
                    score = max(score, BODY_SHARE * shared / (body_norm * centroid_norm))
                if same_occasion(doer, actors_of[cand][0], row["published_at"] - first_at[cand]):
                    score *= SAME_ACTOR_BOOST
                if score >= JOIN_AT and (best is None or score > best_score):
                    best, best_score = cand, score
            sid = best or story_id(first[rid]["id"])  # named after the first-published copy, not the root
        centroid, last = centroids.get(sid, ({}, row["published_at"]))
        for w, x in vec.items():
            centroid[w] = centroid.get(w, 0.0) + x
        centroids[sid] = (centroid, max(last, row["published_at"]))
        body_centroid = body_centroids.get(sid, ({}, 0.0))[0]
        for w, x in bodies[first[rid]["id"]].items():
            body_centroid[w] = body_centroid.get(w, 0.0) + x
        body_centroids[sid] = (body_centroid, math.sqrt(sum(v * v for v in body_centroid.values())))
        story_kinds.setdefault(sid, set()).update(kinds)
        story_lead, story_mentions = actors_of.setdefault(sid, (set(), set()))
        story_lead.update(who[0])
        story_mentions.update(who[1])
        first_at.setdefault(sid, row["published_at"])
        opened_by.setdefault(sid, representative(first[rid]))
        for t in [*vec, *who[0]]:  # stories are findable by every word; articles look up by their strongest only
            postings.setdefault(t, set()).add(sid)
        out[rid] = sid
    for row in rows:
        if row["duplicate_of"]:
            out[row["id"]] = out.get(row["duplicate_of"]) or row["story_id"] or story_id(row["duplicate_of"])
    return out


def run(settings: Settings) -> int:
    engine = get_engine(settings.db)
    with read(engine) as conn:
        pending = store.pending(conn)
        if not pending:
            return 0
        # Only stories open around the pending articles can take them: the window stays a few days
        # wide however large the archive, so the cost per article stays flat.
        since = min(r["published_at"] for r in pending) - OPEN_FOR
        until = max(r["published_at"] for r in pending) + OPEN_FOR
        cols = ["id", "title", "text", "summary", "published_at", "first_seen_at", "duplicate_of", "story_id",
                "content_hash", "relevant"]
        window = list(store.all_articles(conn, since=since, until=until, columns=cols))
    pending_ids = {r["id"] for r in pending}
    taxonomy = load(settings.taxonomy, settings.gazetteer)
    assigned = assign(window, pending_ids, taxonomy)
    by_story: dict[str, list[dict[str, Any]]] = {}
    for row in window:
        by_story.setdefault(assigned[row["id"]], []).append(row)
    story_rows = []
    for sid, members in by_story.items():
        if not any(m["id"] in pending_ids for m in members):
            continue
        originals = [m for m in members if not m["duplicate_of"]] or members
        story_rows.append({"id": sid, "headline": originals[0]["title"],
                           "first_seen_at": min(m["published_at"] for m in members),
                           "last_seen_at": max(m["published_at"] for m in members),
                           "article_count": len(members)})
    results = [{"id": r["id"], "story_id": assigned[r["id"]], "processed_hash": r["content_hash"]}
               for r in window if r["id"] in pending_ids]
    with write(engine) as conn:
        store.save_stories(conn, story_rows)
        written = store.save_results(conn, results)
        # The look-back is bounded (most recent stories first), so a busy archive costs the same
        # per article as a quiet one.
        known = store.stories_since(conn, min(r["first_seen_at"] for r in story_rows) - THREAD_DAYS,
                                    limit=THREAD_CANDIDATES + len(story_rows))
        linked = threads(known, {r["id"] for r in story_rows}, taxonomy)
        store.save_stories(conn, [{**{k: v for k, v in r.items() if k != "leads"}, "thread_id": linked[r["id"]]}
                                  for r in known if r["id"] in linked])
        return written
