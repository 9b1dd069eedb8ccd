"""Procurement notices joined to the news about the same procurement.

A notice and a story join only on specific evidence, never on shared generic words ("police",
"AI", "data", "platform" appear in half the corpus):

- the story cites the notice itself: its ocid, its notice number (from the notice URL, e.g.
  "000001-2026") or a reference number of at least six characters with a digit in it;
- the story names a supplier of the notice as a proper noun (legal suffixes dropped, and its
  everyday name: "Palantir Technologies UK Ltd" is "Palantir") together with the buyer, a title
  phrase or a distinctive title word;
- the story names the buyer (by the taxonomy's aliases, so "the Met" is the Metropolitan Police
  Service) and is about buying (the taxonomy's `procurement` tag), and repeats a phrase of the
  notice's title (a distinctive word and another meaningful one, "workforce standards", or three
  domain words, "body worn video"), or two distinctive title words, or one in its own headline.

Two rules over those matches:

- a story is about the procurement it gives the strongest evidence for: a story that cites notice
  051201-2026 and also names Palantir is about that notice, not about every Palantir contract it
  recalls (a citation beats a supplier or buyer with a title phrase, which beats a single title word);
- an article published more than a few days before a notice is not about it unless it cites it: a
  report of the contract refused on the 10th is not about the extension notice of the 16th.

The functions are pure over plain dicts (notices in the shape of storage.notices rows, articles
with id, story_id, title and text), so the digest, the notice export and the labelled-set scorer
run the same join. `story_ids_for_notices` is the database entry point for the export.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipelines.text import fold

#: Words of a notice title that say nothing about which procurement it is.
STOP = frozenset("""
a an the of for and or to in on at by with from into under over new provision supply supplies
service services system systems solution solutions contract contracts framework agreement lot lots
tender procurement support management managed programme project equipment products product national
regional local public sector uk england wales scotland london capability capabilities development
delivery implementation maintenance related associated various including requirement requirements
market engagement notice award phase stage year years month months call off dps dynamic purchasing
""".split())
#: Words of this domain: every other notice and story has them, so alone they identify nothing, but
#: three in a row from the title ("body worn video") are a phrase.
DOMAIN = frozenset("""
platform platforms software data digital technology technologies tech it ict ai artificial intelligence
police policing force forces constabulary home office live facial recognition lfr camera cameras cctv
surveillance analytics analysis predictive drone drones body worn video van vans vehicle vehicles biometric
biometrics automatic number plate anpr tool tools officers officer staff crime criminal justice safety
security operational operations information
""".split())
GENERIC = STOP | DOMAIN
#: A story is about buying when it says one of these (beside the taxonomy's `procurement` tag).
BUYING = re.compile(r"\b(tender\w*|procure\w*|contract\w*|supplier\w*|bidder\w*|bids?|bidding|award\w*|"
                    r"framework|invitation to tender|market engagement|notice|vendor\w*|purchas\w*)\b",
                    re.IGNORECASE)
#: Words that say a purchase happened, which the `procurement` topic (tenders, awards, bids) may not
#: tag on its own: "the software it bought from Brightline".
_BOUGHT = re.compile(r"\b(bought|buys|buying|purchas\w*|procur\w*|tender\w*)\b", re.IGNORECASE)
_LEGAL = re.compile(r"\b(ltd|limited|plc|llp|llc|inc|incorporated|gmbh|corp|corporation|co|company|"
                    r"holdings|group|uk)\.?$", re.IGNORECASE)
_NOTICE_NUMBER = re.compile(r"\b(\d{6}-\d{4})\b")
_WORD = re.compile(r"[a-z0-9]+")
#: A story's subject is named in its headline or opening (about two paragraphs).
LEAD_CHARS = 600
#: Articles this many days either side of a notice can be about it (the export's window).
WINDOW_DAYS = 30


def _norm(text: str) -> str:
    """Lower-case, accent-free, punctuation and hyphens as spaces: "workforce-data" is "workforce data"."""
    return " " + " ".join(_WORD.findall(fold(text or "").lower())) + " "


def _has(haystack: str, phrase: str) -> bool:
    p = _norm(phrase)
    return len(p.strip()) > 0 and p in haystack


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") else word


def supplier_core(name: str) -> str:
    """"Northgate Vision Systems Ltd" -> "Northgate Vision Systems" (legal suffixes dropped)."""
    name = " ".join(re.sub(r"\((uk|gb)\)", " ", (name or "").replace(",", " "), flags=re.IGNORECASE).split())
    while True:
        shorter = _LEGAL.sub("", name).strip(" .,")
        if shorter == name:
            return name
        name = shorter


def _distinctive(title: str) -> list[str]:
    return [w for w in _WORD.findall(fold(title or "").lower()) if w not in GENERIC and len(w) > 2
            and not w.isdigit()]


def _title_phrases(title: str) -> list[str]:
    """Contiguous runs of title words, not starting or ending on a stop word, with a distinctive word
    and another meaningful one ("workforce standards", "custody suite") or three meaningful words
    ("body worn video"): what a story about this procurement would repeat."""
    words = _WORD.findall(fold(title or "").lower())
    out = []
    for i in range(len(words)):
        for j in range(i + 2, min(len(words), i + 6) + 1):
            run = words[i:j]
            if run[0] in STOP or run[-1] in STOP:
                continue
            distinctive = sum(w not in GENERIC and len(w) > 2 for w in run)
            meaningful = sum(w not in STOP for w in run)
            if distinctive >= 2 or (distinctive >= 1 and meaningful >= 2) or meaningful >= 3:
                out.append(" ".join(run))
    return out


def references(notice: dict[str, Any]) -> list[str]:
    """Identifiers a story could cite: ocid, the notice number in its URL, reference-like ids."""
    refs = [notice.get("ocid") or ""]
    for key in ("notice_id", "reference", "tender_id"):
        if notice.get(key):
            refs.append(str(notice[key]))
    m = _NOTICE_NUMBER.search(notice.get("url") or "")
    if m:
        refs.append(m.group(1))
    return [r for r in dict.fromkeys(refs) if len(r) >= 6 and any(c.isdigit() for c in r)]


@dataclass
class Match:
    """One notice-article join and the evidence for it, in words a reader can check."""
    notice: str
    article: str
    story: str
    why: list[str] = field(default_factory=list)
    strength: int = 1
    #: Distinctive words of the notice's title in the article's headline.
    headline: int = 0
    #: Whether the headline or first paragraph names the notice's buyer.
    opening: bool = False


#: An article this long before a notice's publication can still be about it (news of a tender often
#: runs a day or two ahead of the notice, and a notice's date may be its dispatch).
LEAD_DAYS = 3


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _too_early(notice: dict[str, Any], article: dict[str, Any]) -> bool:
    published, seen = _when(notice.get("published_at")), _when(article.get("published_at"))
    if published is None or seen is None:
        return False
    try:
        return seen < published - timedelta(days=LEAD_DAYS)
    except TypeError:  # naive against aware: compare as UTC wall times
        return seen.replace(tzinfo=None) < published.replace(tzinfo=None) - timedelta(days=LEAD_DAYS)


def strength(why: list[str]) -> int:
    """4: the story cites the notice; 3: a supplier or the buyer with a phrase of the notice's title
    (what this procurement is called); 2: a supplier with the buyer (they do business, perhaps on
    another contract); 1: shared title words."""
    if not why:
        return 0
    if why[0].startswith("cites "):
        return 4
    if "“" in why[-1]:
        return 3
    return 2 if "and the buyer" in why[-1] else 1


def _rank(m: Match) -> tuple[int, int, int, bool]:
    """Strength first, then how much of the notice's title the story repeats: a story that names
    the "workforce insight platform" is about that, not about the "professional standards" pilot it
    recalls in passing; then how many of the title's distinctive words its headline carries (a
    bidder known for transcription, bidding for a redaction contract, is news of the redaction one);
    then whether its opening names the buyer (a supplier's second award this month is news of the
    buyer its first paragraph names, not of the earlier award its second recalls)."""
    quoted = re.search(r"“([^”]*)”", m.why[-1]) if m.why else None
    return m.strength, len(quoted.group(1).split()) if quoted else 0, m.headline, m.opening


def strongest_per_story(matches: list[Match]) -> list[Match]:
    """Keep, for each story, the matches of its strongest evidence (ties keep every notice)."""
    best: dict[str, tuple[int, int, int, bool]] = {}
    for m in matches:
        best[m.story] = max(best.get(m.story, (0, 0, 0, False)), _rank(m))
    return [m for m in matches if _rank(m) == best[m.story]]


#: Trailing words a company's everyday name drops: "Palantir Technologies" is "Palantir".
_CORPORATE = frozenset("technologies technology systems solutions services software consulting consultancy "
                       "digital international global europe".split())


def supplier_names(name: str) -> list[str]:
    """The names a story may use for a supplier: the registered name without legal suffixes, and
    without a trailing corporate word ("Palantir Technologies UK Ltd" -> "Palantir Technologies",
    "Palantir"). A name made only of generic words is no evidence and is left out."""
    core = supplier_core(name)
    words = core.split()
    short = words[:]
    while len(short) > 1 and short[-1].lower() in _CORPORATE:
        short.pop()
    out = []
    for cand in dict.fromkeys([core, " ".join(short)]):
        if len(cand) >= 5 and not all(w in GENERIC for w in _norm(cand).split()):
            out.append(cand)
    return out


@dataclass
class _Story:
    """An article prepared once for every notice it is compared with."""
    raw: str
    hay: str
    lead: str
    lead_slugs: set[str]
    words: set[str]
    head: set[str]
    slugs: set[str]
    buying: bool
    bought: bool
    #: The procurement topic in the headline or opening: buying is what the story is about.
    lead_buying: bool = False
    #: The headline and first paragraph: whom the story is about.
    opening: str = ""
    opening_raw: str = ""
    #: The headline and first sentence.
    first_sentence: str = ""
    opening_slugs: set[str] = field(default_factory=set)
    #: The headline alone.
    headline: str = ""
    headline_slugs: set[str] = field(default_factory=set)


#: Office-holders that buy in their force's or area's name: "Chief Constable of Harrowfield
#: Constabulary" is Harrowfield Constabulary to a reporter.
_OFFICE = re.compile(r"^(the\s+)?(chief constable of|police and crime commissioner for|police, fire and crime "
                     r"commissioner for|police fire and crime commissioner for|office of the)\s+", re.IGNORECASE)
#: Words of a buyer's name that say what kind of body it is, not which one.
_BODY = frozenset("""
the of and for constabulary police policing force council city county borough district metropolitan
nhs foundation trust teaching hospital hospitals university college company limited ltd department
ministry office service services authority board integrated care commissioner crime chief
""".split())


def buyer_names(buyer: str) -> tuple[list[str], list[str]]:
    """The names a story may use for a buyer: its registered name, the name without a legal suffix,
    a leading "The" or an office-holder ("Police ICT Company", "Harrowfield Constabulary"); and the
    words that tell this body from others of its kind ("harrowfield"), all of which a story must
    use when it names the body its own way ("Harrowfield's police force")."""
    core = _OFFICE.sub("", supplier_core(buyer or "")).strip()
    core = re.sub(r"^the\s+", "", core, flags=re.IGNORECASE)
    names = [n for n in dict.fromkeys([buyer or "", core]) if len(n) >= 4]
    place = [w for w in _WORD.findall(fold(core).lower()) if w not in _BODY and w not in GENERIC and len(w) > 2]
    return names, place


@dataclass
class _Notice:
    refs: list[str]
    buyer: str
    buyer_names: list[str]
    buyer_place: list[str]
    buyer_tags: set[str]
    phrases: list[str]
    words: list[str]
    suppliers: list[list[str]]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def _prepare_story(article: dict[str, Any], tax: Any) -> _Story:
    title, text = article.get("title") or "", article.get("text") or ""
    raw = f"{title}\n{text}"
    hay = _norm(raw)
    slugs = set(tax.analyse(title, text)[0]) if tax is not None else set()
    # The taxonomy's `procurement` tag is tuned against false friends ("a great deal", a footballer's
    # contract); the bare word list stands in only when no taxonomy is given.
    buying = "procurement" in slugs if tax is not None else bool(BUYING.search(raw))
    lead = _norm(f"{title}\n{text[:LEAD_CHARS]}")
    lead_slugs = set(tax.analyse(title, text[:LEAD_CHARS])[0]) if tax is not None else set()
    lead_buying = ("procurement" in lead_slugs if tax is not None
                   else bool(BUYING.search(f"{title}\n{text[:LEAD_CHARS]}")))
    first = text.strip().split("\n", 1)[0][:LEAD_CHARS]
    return _Story(raw=raw, hay=hay, lead=lead, lead_slugs=lead_slugs, words={_stem(w) for w in hay.split()},
                  head={_stem(w) for w in _norm(title).split()}, slugs=slugs, buying=buying,
                  bought=buying or bool(_BOUGHT.search(raw)), lead_buying=lead_buying,
                  opening=_norm(f"{title}\n{first}"), opening_raw=f"{title}\n{first}",
                  first_sentence=_norm(title + "\n" + _SENTENCE_END.split(first, maxsplit=1)[0]),
                  opening_slugs=set(tax.analyse(title, first)[0]) if tax is not None else set(),
                  headline=_norm(title), headline_slugs=set(tax.analyse(title, "")[0]) if tax is not None else set())


def _prepare_notice(notice: dict[str, Any], tax: Any) -> _Notice:
    buyer = notice.get("buyer") or ""
    tags: set[str] = set()
    if tax is not None and buyer:
        tags = {t for t in tax.analyse("", buyer)[0] if t != "procurement"}
    title = notice.get("title") or ""
    names, place = buyer_names(buyer)
    return _Notice(refs=references(notice), buyer=buyer, buyer_names=names, buyer_place=place, buyer_tags=tags,
                   phrases=_title_phrases(title),
                   words=list(dict.fromkeys(_distinctive(title))),
                   suppliers=[supplier_names(x) for x in notice.get("suppliers") or []])


def _buyer_named(n: _Notice, hay: str, slugs: set[str]) -> bool:
    if any(_has(hay, name) for name in n.buyer_names):
        return True
    if n.buyer_tags and n.buyer_tags <= slugs:
        return True
    return bool(n.buyer_place) and all(f" {w} " in hay for w in n.buyer_place)


#: A public body as a story names it: "Bristol City Council", "Lincolnshire Police", "Barts Health NHS Trust".
_BODY_NAME = re.compile(r"\b(?:[A-Z][\w'&-]+\s+(?:and\s+|of\s+(?:the\s+)?)?){1,4}"
                        r"(?:City Council|County Council|Borough Council|District Council|Council|Constabulary|"
                        r"Police|NHS Trust|Foundation Trust|Combined Authority|Office)\b")


def _other_body_opens(n: _Notice, a: _Story, tax: Any) -> bool:
    """Whether the headline or first paragraph names a public body other than the notice's buyer:
    the story is that body's news."""
    for m in _BODY_NAME.finditer(a.opening_raw):
        body = m.group()
        slugs = set(tax.analyse("", body)[0]) if tax is not None else set()
        if not _buyer_named(n, _norm(body), slugs):
            return True
    return False


def _why(n: _Notice, a: _Story, tax: Any = None) -> list[str]:
    for ref in n.refs:
        if ref in a.raw:
            return [f"cites {ref}"]
    # Beyond a citation, a story must be about buying: a supplier's kit in use ("vans return to
    # Croydon") or its work in another sector is not news of this procurement. A named supplier
    # needs only a word of purchase ("the software it bought from Brightline"); the buyer alone
    # needs the `procurement` topic.
    if not a.bought:
        return []
    buyer_named = _buyer_named(n, a.hay, a.slugs)
    # A phrase of the title counts where the story says what it is about: its headline or opening.
    # Deep in the body it is a passing mention ("…, which follows the Home Office's tender for a
    # facial search of the police national database") of a procurement the story is not about.
    phrases = [p for p in n.phrases if f" {p} " in a.lead]
    shared = [w for w in n.words if _stem(w) in a.words]
    # A supplier's name as a proper noun (case kept): "Northgate" the place is not "Northgate" the firm.
    supplier = next((name for names in n.suppliers for name in names
                     if re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", a.raw)), None)
    # One distinctive title word beside a name ("transcription" beside the supplier known for it,
    # "centre" beside the force) is a coincidence as often as not: single words need a second.
    # Title words beside a supplier, with no phrase or buyer, count only in a story about buying
    # (its headline or opening says so): a supplier's scanners at a football ground are its other trade.
    if supplier and (buyer_named or phrases or (len(shared) >= 2 and a.lead_buying)):
        if phrases:
            return [f"names the supplier {supplier}", f"and “{max(phrases, key=len)}”"]
        # A supplier's news about another client ("Bristol City Council has chosen Tarnhollow ...")
        # that recalls this buyer's award in its third paragraph is not about this award.
        if (buyer_named and _buyer_named(n, a.lead, a.lead_slugs)
                and (_buyer_named(n, a.opening, a.opening_slugs) or not _other_body_opens(n, a, tax))):
            return [f"names the supplier {supplier}", f"and the buyer {n.buyer}"]
        if buyer_named:
            return []
        return [f"names the supplier {supplier}", f"and {', '.join(shared)} from the notice title"]
    # The buyer alone (no supplier) must be the story's subject, and buying what the story is about:
    # the buyer and the procurement topic in its headline or opening, beside what it is buying (a
    # phrase of the title, or one of two title words). An outage or an inquest that mentions the
    # force's tender in its fifth paragraph is news of the outage.
    # And the headline or first sentence must name the buyer: a comment on police buying in
    # general lists one force's tender as an example in its second sentence.
    if (buyer_named and a.lead_buying and _buyer_named(n, a.lead, a.lead_slugs)
                    and _buyer_named(n, a.first_sentence, a.lead_slugs)):
        if phrases:
            return [f"names the buyer {n.buyer}", f"and “{max(phrases, key=len)}”"]
        if len(shared) >= 2 and any(f" {w}" in a.lead for w in shared):
            return [f"names the buyer {n.buyer}", f"and {', '.join(shared)} from the notice title"]
    return []


def match_one(notice: dict[str, Any], article: dict[str, Any], tax: Any = None) -> list[str]:
    """Why `article` is about `notice` (empty when it is not)."""
    return _why(_prepare_notice(notice, tax), _prepare_story(article, tax), tax)


def join(notices: Sequence[dict[str, Any]], articles: Sequence[dict[str, Any]], tax: Any = None) -> list[Match]:
    """Every (notice, article) pair with specific evidence; notices keyed by `id` (else ocid),
    articles by `id`, their story by `story_id` (else `story`, else the article id). Each article
    and notice is read once, however many it is compared with."""
    if not notices:
        return []
    stories = [(a, _prepare_story(a, tax)) for a in articles]
    out = []
    for n in notices:
        key = n.get("id") or n["ocid"]
        prepared = _prepare_notice(n, tax)
        for a, st in stories:
            why = _why(prepared, st, tax)
            if why and (strength(why) == 4 or not _too_early(n, a)):
                out.append(Match(notice=key, article=a["id"], story=a.get("story_id") or a.get("story") or a["id"],
                                 why=why, strength=strength(why),
                                 headline=sum(_stem(w) in st.head for w in prepared.words),
                                 opening=_buyer_named(prepared, st.opening, st.opening_slugs)))
    return strongest_per_story(out)


def stories_by_notice(matches: Iterable[Match]) -> dict[str, dict[str, list[str]]]:
    """notice key -> {story id -> why (from its first matching article)}."""
    out: dict[str, dict[str, list[str]]] = {}
    for m in matches:
        out.setdefault(m.notice, {}).setdefault(m.story, m.why)
    return out


def notices_by_story(matches: Iterable[Match]) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for m in matches:
        out.setdefault(m.story, {}).setdefault(m.notice, m.why)
    return out


def story_ids_for_notices(conn: Any, notices: Sequence[dict[str, Any]] | None = None, tax: Any = None,
                          window_days: int = WINDOW_DAYS) -> dict[str, list[str]]:
    """For the notice export's `story_ids`: notice row id (storage.notices `id`) -> the ids of the
    stories about the same procurement among relevant articles published within `window_days` of
    the notice, sorted. `notices` defaults to every stored notice; `tax` to the configured taxonomy.
    """
    from storage import notices as notice_store
    from storage import texts

    if tax is None:
        from core.settings import Settings
        from pipelines.taxonomy import load

        settings = Settings()
        tax = load(settings.taxonomy, settings.gazetteer)
    rows = list(notices) if notices is not None else notice_store.list_notices(conn, limit=100_000)
    if not rows:
        return {}
    dates = [r["published_at"] for r in rows if isinstance(r.get("published_at"), datetime)]
    if not dates:
        return {r["id"]: [] for r in rows}
    pad = timedelta(days=window_days)
    articles = texts.relevant_between(conn, min(dates) - pad, max(dates) + pad)
    in_window = [{**a, "story_id": a["story_id"] or a["id"]} for a in articles]
    out: dict[str, list[str]] = {n["id"]: [] for n in rows}
    notice_by_id = {n["id"]: n for n in rows}
    article_by_id = {a["id"]: a for a in in_window}
    for m in join([n for n in rows if n.get("published_at")], in_window, tax):
        gap = abs(article_by_id[m.article]["published_at"] - notice_by_id[m.notice]["published_at"])
        if gap <= pad and m.story not in out[m.notice]:
            out[m.notice].append(m.story)
    return {k: sorted(v) for k, v in out.items()}
