"""Headlines as the outlet wrote them, and the outlet's own name (issue 12).

A page's `<title>` is written for browser tabs and search results: "Headline | Comment | The
Capital Ledger", "Glasshouse: Headline". The headline proper is in the page's own statements
(JSON-LD `headline`, `og:title`, the article's `<h1>`), and the outlet's name in `og:site_name`,
JSON-LD `publisher.name`, `application-name`, the feed's `<title>` and the part every title of a
source shares. A segment of a title is cut only when one of those names (or the page's section)
says it is the outlet's, never just because a separator is there: "Palantir – the row explained"
and "Met AI: what we know" are headlines.

Pure functions of strings and of the lxml tree extraction already parsed, so they cost a few
tree lookups per page and the tests run them on saved pages.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

#: Separators between a headline and the site's name or section, as sites write them. A hyphen
#: counts only with spaces around it ("AI-powered" is a word); ":" only after a prefix ("Glasshouse:").
_SEP = re.compile(r"\s+(?:[\-–—~·•»›/]|::)\s+|\s*[|｜：]\s*")
_PREFIX_SEP = re.compile(r"^(.{2,60}?)(?::\s+|\s+(?:[\-–—~·•»›/]|::)\s+|\s*[|｜：]\s*)(?=\S)")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "\u00a0": " "})
_WORD = re.compile(r"[^\W_]+")
#: Section crumbs common enough to cut between a headline and a stated site name, in any case,
#: even when the page does not name its section.
_CRUMBS = frozenset("""news uk world politics business money technology tech science health opinion comment
comment is free analysis features feature culture sport sports lifestyle environment crime police
local local news uk news world news national regional investigations investigation long read
explainer explainers blog blogs editorial editorials letters columnists column review reviews
breaking latest in depth policy security justice law courts""".replace("\n", " ").split(" ")) | {
    "uk news", "world news", "local news", "comment is free", "long read", "in depth", "the long read"}
#: Words that decorate a feed's <title> but are not the outlet's name ("… - All stories", "RSS").
#: After a separator anything generic goes ("Sky News - Latest"); after a bare space only what is
#: never part of a name ("Glasshouse RSS", "MPA Top News"), so "Sky News" keeps its "News".
_FEED_NOISE_ANY = (r"rss(?:\s*2\.0)?(?:\s+feed)?|atom(?:\s+feed)?|feeds?|xml|news\s*feed|(?:top|latest|all)\s+"
                   r"(?:news|stories|headlines|articles|posts)|headlines")
_FEED_NOISE = re.compile(
    rf"(?:^|\s*[|\-–—:·•»]\s*)(?:{_FEED_NOISE_ANY}|(?:the\s+)?latest|news|home(?:\s*page)?|front\s*page|"
    r"stories|articles|posts|blog|updates|uk|world|all)\s*$|\s+(?:" + _FEED_NOISE_ANY + r")\s*$", re.I)
MAX_OUTLET = 120


def name_key(name: str) -> str:
    """What two spellings of one outlet name share: letters and digits, case-folded, without a
    leading "The" ("The Capital Ledger", "capital ledger", "CapitalLedger" are one name)."""
    words = _WORD.findall(name.casefold())
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    return "".join(words)


def _names(names: Iterable[str | None]) -> set[str]:
    return {k for k in (name_key(n) for n in names if n) if len(k) >= 2}


def _host_keys(url: str | None) -> set[str]:
    """Labels of the page's host that can spell the outlet ("northgatewire" of www.northgatewire.example)."""
    host = (urlsplit(url).hostname or "") if url else ""
    if not host or host.replace(".", "").isdigit() or ":" in host:
        return set()
    labels = [label for label in host.split(".") if label not in ("www", "m", "amp", "news")]
    return {name_key(label) for label in labels[:-1] if len(label) >= 4}


def _is_name(segment: str, names: set[str], hosts: set[str], loose: bool = True) -> bool:
    """The segment is the outlet's name. `loose` also takes a short segment that one of the names
    begins with, or that begins with one ("CNN Politics" of "CNN", "日本経済新聞" of "日本経済新聞 電子版")."""
    key = name_key(segment)
    if not key:
        return False
    if key in names:
        return True
    if loose and len(segment.split()) <= 4 and any(
            min(len(key), len(n)) >= 3 and (key.startswith(n) or n.startswith(key)) for n in names):
        return True
    # "Glasshouse.example", "The Ledger (London)" and a domain as the name: the host spells it.
    return bool(hosts) and len(segment.split()) <= 5 and any(key == h or key == h.removeprefix("the") for h in hosts)


def _is_crumb(segment: str, section: str | None) -> bool:
    text = " ".join(segment.casefold().split())
    if section and name_key(text) == name_key(section):
        return True
    return text in _CRUMBS


def _split(title: str) -> list[str]:
    """Segments between separators, so that joining them back with the original separators is
    lossless: [seg, sep, seg, sep, seg]."""
    parts: list[str] = []
    last = 0
    for m in _SEP.finditer(title):
        parts += [title[last:m.start()], m.group(0)]
        last = m.end()
    parts.append(title[last:])
    return parts


def strip_outlet(title: str, names: Iterable[str | None] = (), section: str | None = None,
                 url: str | None = None) -> str:
    """`title` without the outlet's name and the section crumbs next to it, at either end.

    A segment goes only when it is one of `names` (or the page's host spells it); crumbs
    ("| Comment |") go only next to a name that went, so a headline that merely contains a
    separator is never cut."""
    title = " ".join(title.split())
    keys, hosts = _names(names), _host_keys(url)
    if not title or not (keys or hosts):
        return title
    parts = _split(title)
    # Suffix: "Headline | Section | Outlet" (and "Headline | Outlet | Section", rarer).
    for width in (1, 3):  # a name of one segment, or one that holds a separator ("Echo - Local")
        if len(parts) >= width + 2 and _is_name("".join(parts[-width:]), keys, hosts):
            parts = parts[:-width - 1]
            while len(parts) >= 3 and _is_crumb(parts[-1], section):
                parts = parts[:-2]
            break
    else:
        # "Headline | Outlet | Section" and "Headline | Outlet | Its tagline": the name, then one more.
        if len(parts) >= 5 and _is_name(parts[-3], keys, hosts):
            parts = parts[:-4]
            while len(parts) >= 3 and _is_crumb(parts[-1], section):
                parts = parts[:-2]
    # Prefix: "Outlet | Headline", "Outlet: Headline", "Outlet - Section - Headline".
    cut = _strip_prefix("".join(parts), keys, hosts, section)
    return cut or title


def _strip_prefix(title: str, keys: set[str], hosts: set[str], section: str | None) -> str:
    m = _PREFIX_SEP.match(title)
    if not m or not _is_name(m.group(1), keys, hosts, loose=False):
        return title
    rest = title[m.end():]
    parts = _split(rest)
    while len(parts) >= 3 and _is_crumb(parts[0], section):
        parts = parts[2:]
    return "".join(parts).strip()


# -- the page's own statements -------------------------------------------------------------------
def _metas(tree: Any) -> dict[str, list[str]]:
    """The page's <meta> values by lower-cased property/name/itemprop, read in one pass."""
    out: dict[str, list[str]] = {}
    for meta in tree.iterfind(".//meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in _META_KEYS and (meta.get("content") or "").strip():
            out.setdefault(key, []).append(" ".join(meta.get("content").split()))
    return out


_META_KEYS = frozenset(("og:title", "twitter:title", "og:site_name", "application-name", "apple-mobile-web-app-title"))
_ARTICLE_TYPES = frozenset(("article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle",
                            "opinionnewsarticle", "blogposting", "report", "liveblogposting",
                            "backgroundnewsarticle", "review", "reviewnewsarticle", "socialmediaposting"))


def _ld_type(item: dict[str, Any]) -> set[str]:
    kind = item.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def ld_headlines(objects: Sequence[dict[str, Any]]) -> list[str]:
    """JSON-LD `headline`s, those of article-like (or untyped) objects first."""
    found: list[tuple[int, str]] = []
    for item in objects:
        value = item.get("headline")
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str)), None)
        if isinstance(value, str) and value.strip():
            kinds = _ld_type(item)
            found.append((0 if kinds & _ARTICLE_TYPES or not kinds else 1, " ".join(value.split())))
    return [v for _, v in sorted(found, key=lambda f: f[0])]


def ld_publishers(objects: Sequence[dict[str, Any]]) -> list[str]:
    """`publisher.name` of the page's JSON-LD, and the name of a WebSite or NewsMediaOrganization."""
    found = []
    for item in objects:
        pub = item.get("publisher")
        for p in pub if isinstance(pub, list) else [pub]:
            if isinstance(p, dict) and isinstance(p.get("name"), str) and p["name"].strip():
                found.append(" ".join(p["name"].split()))
        if _ld_type(item) & {"website", "newsmediaorganization"} and isinstance(item.get("name"), str):
            found.append(" ".join(item["name"].split()))
    return found


def site_names(metas: dict[str, list[str]], objects: Sequence[dict[str, Any]]) -> list[str]:
    """What the page says its outlet is called, most deliberate statement first."""
    names = (metas.get("og:site_name", []) + ld_publishers(objects) + metas.get("application-name", [])
             + metas.get("apple-mobile-web-app-title", []))
    out: list[str] = []
    for n in names:
        if n and len(n) <= MAX_OUTLET and n not in out:
            out.append(n)
    return out


def _h1s(tree: Any) -> list[str]:
    """The article's <h1>s first (inside <article> or <main>), then the page's others; one walk."""
    inner: list[str] = []
    outer: list[str] = []
    for node in tree.iter("h1"):
        text = " ".join(node.text_content().split())
        if text:
            in_article = any(a.tag in ("article", "main") for a in node.iterancestors())
            (inner if in_article else outer).append(text)
        if len(inner) + len(outer) >= 8:
            break
    return list(dict.fromkeys(inner + outer))[:3]


def _title_tag(tree: Any) -> str:
    node = tree.find(".//title")
    return " ".join(node.text_content().split()) if node is not None else ""


def _fold(text: str) -> str:
    """Two spellings of one headline compare equal: case, curly quotes, spaces."""
    return " ".join(text.translate(_QUOTES).casefold().split())


def _within_title(candidate: str, title: str) -> bool:
    """The <title> is the candidate, or the candidate with something beside it at a separator."""
    c, t = _fold(candidate), _fold(title)
    if not c or c not in t:
        return False
    before, _, after = t.partition(c)
    return (not before or bool(re.search(r"[:|\-–—~·•»›/｜：]\s*$", before))) and \
        (not after or bool(re.match(r"\s*[|\-–—~·•»›/:(｜：]", after)))


def page_headline(tree: Any, objects: Sequence[dict[str, Any]], url: str | None = None,
                  known_names: Iterable[str | None] = (), section: str | None = None) -> dict[str, Any]:
    """The page's headline, its raw <title> and the names it gives its outlet.

    Candidates are the JSON-LD headline, og:title, twitter:title and the article's <h1>, each
    cleaned of the outlet's names. The one most other statements agree with wins (the <title>
    holding it at a separator counts twice: tab titles are headline plus furniture); ties go to
    that order. A candidate that is only the outlet's name (og:title on a home page, a logo <h1>)
    or one word (an <h1> of "Latest") loses to the cleaned <title>."""
    metas = _metas(tree)
    raw_title = _title_tag(tree)
    names = site_names(metas, objects)
    all_names = [*names, *known_names]
    keys = _names(all_names)
    head = ld_headlines(objects)[:2] + metas.get("og:title", [])[:1]
    n_twitter = len(head) if metas.get("twitter:title") else -1
    h1s = _h1s(tree)
    stated = head + metas.get("twitter:title", [])[:1] + h1s
    kept: dict[str, str] = {}
    for value in stated:
        cleaned = strip_outlet(value, all_names, section, url)
        if cleaned and name_key(cleaned) not in keys:
            kept[value] = cleaned
    cleaned_all = list(kept.values())
    from_title = strip_outlet(raw_title, all_names, section, url)
    if name_key(from_title) in keys:
        from_title = ""
    # twitter:title is nearly always a copy of og:title: half a vote, so the two do not outvote
    # an <h1> that the <title> confirms.
    weights = [0.5 if i == n_twitter else 1.0 for i in range(len(stated))]
    votes: dict[str, float] = {}
    for value, weight in zip(stated, weights, strict=True):
        if value in kept:
            votes[_fold(kept[value])] = votes.get(_fold(kept[value]), 0.0) + weight
    # A statement that is another one plus furniture at a separator ("Headline | Outlet" beside
    # "Headline", when nothing names the outlet) confirms the shorter one and loses its own claim.
    unique = list(dict.fromkeys(kept.values()))
    folds = {_fold(c) for c in unique}
    for longer in folds:
        inner = [f for f in folds if f != longer and (len(f.split()) >= 3 or len(f) >= 15) and _within_title(f, longer)]
        if inner:
            shorter = max(inner, key=len)
            votes[shorter] = votes.get(shorter, 0.0) + votes.get(longer, 0.0)
            votes[longer] = -1.0
    best, best_score = "", 0.0
    for cand in unique:
        score = votes.get(_fold(cand), 0.0) + (2 if raw_title and _within_title(cand, raw_title) else 0)
        if len(cand.split()) < 2 and len(cand) < 15:  # "Latest", "Comment": furniture, not a headline
            score -= 3
        if score > best_score:
            best, best_score = cand, score
    if best:
        # Of the spellings of the winner (curly or straight quotes), the one the reader sees: the <h1>'s.
        best = next((kept[h] for h in h1s if h in kept and _fold(kept[h]) == _fold(best)), best)
    headline = best or from_title or (cleaned_all[0] if cleaned_all else raw_title)
    return {"title": headline, "raw_title": raw_title, "site_names": names}


# -- a source's outlet ---------------------------------------------------------------------------
def name_only(name: str) -> str:
    """An outlet's name without the tagline or section beside it: "LinkNaija | Nigeria's popular
    news platform" → "LinkNaija", "Comment | The Capital Ledger" → "The Capital Ledger"."""
    parts = _split(" ".join(name.split()))
    segments = [p for p in parts[::2] if p.strip() and not _is_crumb(p, None)]
    return segments[0].strip() if len(parts) > 1 and segments else name.strip()


def feed_outlet(feed_title: str | None) -> str | None:
    """The outlet's name from a feed's <title>: "The Nene Valley Courier - Latest" → "The Nene
    Valley Courier", "Glasshouse RSS" → "Glasshouse"; None when nothing is left."""
    text = " ".join((feed_title or "").split())
    for _ in range(3):
        shorter = _FEED_NOISE.sub("", text).strip(" -|:–—·•»")
        if shorter == text:
            break
        text = shorter
    return name_only(text)[:MAX_OUTLET] or None


#: Words series and formats put before or after many headlines of one outlet ("Analysis: …",
#: "… – explained"): shared by the titles, but not the outlet's name.
_KICKERS = frozenset("""analysis explained explainer live watch video videos audio podcast exclusive breaking
update updated updates opinion comment interview review revealed factcheck fact check in pictures
photos gallery q&a quiz briefing newsletter recap timeline what we know""".replace("\n", " ").split(" ")) | {
    "fact check", "in pictures", "what we know", "live updates", "q&a"}


def _plausible_affix(affix: str) -> bool:
    folded = " ".join(affix.casefold().split())
    return 0 < len(affix) <= MAX_OUTLET and len(affix.split()) <= 8 and not _is_crumb(affix, None) \
        and folded not in _KICKERS


def shared_affix(titles: Sequence[str], where: tuple[str, ...] = ("end", "start")) -> str | None:
    """The name a source's titles share after a separator at their end ("… - Meridian Press
    Association" on at least two titles and half of them), or else at their start ("Glasshouse: …"
    on at least three and 60%, since kickers like "Analysis:" are shared at the start too): the
    outlet's name when its pages say nothing else. Repeated titles count once."""
    clean = list(dict.fromkeys(" ".join(t.split()) for t in titles if t and t.strip()))
    ends: Counter[str] = Counter()
    starts: Counter[str] = Counter()
    for t in clean:
        parts = _split(t)
        if len(parts) >= 3:
            ends[parts[-1]] += 1
        m = _PREFIX_SEP.match(t)
        if m:
            starts[m.group(1)] += 1
    rules = {"end": (ends, 2, 0.5), "start": (starts, 3, 0.6)}
    for side in where:
        counter, min_count, min_share = rules[side]
        for affix, n in counter.most_common(3):
            if n >= min_count and n >= min_share * len(clean) and _plausible_affix(affix):
                return affix
    return None


def _initials(name: str) -> str:
    return "".join(w[0] for w in _WORD.findall(name.casefold()) if w not in ("of", "and", "the"))


_DOMAIN = re.compile(r"^[\w-]+(?:\.[\w-]+)+$")


def learn_outlet(page_names: Sequence[str], feed_title: str | None, titles: Sequence[str]) -> str | None:
    """A source's outlet name: the most common og:site_name / publisher.name across its pages, else
    the feed's title cleaned of "RSS", "- Latest" and the like, else the suffix its titles share.

    Where the first is a cruder spelling of the next, the next wins: a page name that is a domain
    ("northgatewire.example") beside a feed or title name it spells ("Northgate Wire"), a feed title
    that is the initials of the shared suffix ("MPA Top News" beside "… - Meridian Press
    Association") or holds it ("Latest from Northgate Wire")."""
    from_feed = feed_outlet(feed_title)
    affix = shared_affix(titles)
    fallback = from_feed or affix
    if from_feed and affix:
        feed_key, affix_key = name_key(from_feed), name_key(affix)
        if len(affix_key) >= 3 and (feed_key == _initials(affix) or (affix_key in feed_key and feed_key != affix_key)):
            fallback = affix
    counts = Counter(name_only(n) for n in page_names if n and name_only(n))
    if counts:
        # Spellings of one name count together ("The Ledger", "the ledger"); the most used wins.
        by_key: Counter[str] = Counter()
        for n, c in counts.items():
            by_key[name_key(n)] += c
        key = by_key.most_common(1)[0][0]
        best = max((n for n in counts if name_key(n) == key), key=lambda n: counts[n])[:MAX_OUTLET]
        if fallback and _DOMAIN.match(best) and name_key(best).startswith(name_key(fallback)):
            return fallback
        return best
    return fallback
