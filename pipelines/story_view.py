"""What an editor writes under a headline: a lede, and per entity the body sentence that carries
its stance. Pure functions over an article's stored title and text, so the digest, tests and any
other reader share one rule.

The lede comes from the opening paragraphs of the earliest full report: whole sentences only (a
sentence cut mid-word tells the reader nothing), never a byline, dateline, photo caption or
boilerplate line. Evidence is a body sentence that mentions the entity and whose own tone agrees
with the stance shown; when no sentence qualifies there is no quote, which is better than the
headline again with a full stop added.
"""
from __future__ import annotations

import re
from typing import Any

from pipelines import tone
from pipelines.text import fold, sentences

#: The lede is at most this many sentences and characters (two sentences is an editor's lede).
LEDE_SENTENCES = 2
LEDE_CHARS = 420
#: A quote longer than this is a paragraph, not a quote.
EVIDENCE_CHARS = 320
#: Paragraphs of the opening looked at for the lede.
LEDE_PARAGRAPHS = 6

_BYLINE = re.compile(r"^(by|words by|reporting by|written by|posted by|published|updated|last updated)\b",
                     re.IGNORECASE)
_CAPTION = re.compile(r"^(photo|image|picture|pictured|file photo|caption|credit|illustration|video|watch|listen)"
                      r"\b\s*[:(—–-]?", re.IGNORECASE)
_BOILERPLATE = re.compile(
    r"(sign up|subscribe|newsletter|cookie|read more|click here|share this|follow us|all rights reserved|"
    r"copyright|©|advertisement|related articles?|most read|log ?in|javascript|terms and conditions|"
    r"privacy (policy|notice)|support our journalism|send us your)", re.IGNORECASE)
#: "LONDON —", "12 November 2026:", "Manchester, Tuesday." — a dateline with nothing after it.
_DATELINE_ONLY = re.compile(r"^[A-Z][A-Za-z .,'-]{0,40}[:—–-]?\s*$|^[\d]{1,2} [A-Za-z]+ \d{4}\W*$")
_DATELINE_PREFIX = re.compile(r"^[A-Z][A-Z .'-]{2,30}(\s*\([A-Za-z .]{1,20}\))?,?\s*[—–:-]{1,2}\s+")
_SENTENCE_END = ".!?…\"'”’)"


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", fold(text).lower()).split())


def same_as_headline(sentence: str, headline: str) -> bool:
    """True when a sentence is the headline, contains it, or is contained in it (with punctuation,
    case and accents ignored): such a sentence adds nothing under that headline."""
    s, h = _norm(sentence), _norm(headline)
    if not s or not h:
        return False
    return s == h or h in s or s in h


def _is_sentence(text: str) -> bool:
    """A whole sentence: several words, a capital or digit at the start, end punctuation at the end."""
    words = text.split()
    return (len(words) >= 6 and text[:1].isalnum() and not text[:1].islower()
            and text.rstrip()[-1:] in _SENTENCE_END)


def _usable_paragraph(para: str) -> bool:
    para = para.strip()
    if len(para.split()) < 6:
        return False  # a dateline, a kicker, a one-line caption or a section label
    if _BYLINE.match(para) or _CAPTION.match(para) or _BOILERPLATE.search(para):
        return False
    return not _DATELINE_ONLY.match(para)


def lede(text: str, headline: str = "") -> str:
    """One or two whole sentences from the opening paragraphs; "" when the opening has none."""
    chosen: list[str] = []
    used = 0
    for para in [p for p in (text or "").split("\n") if p.strip()][:LEDE_PARAGRAPHS]:
        if not _usable_paragraph(para):
            continue
        para = _DATELINE_PREFIX.sub("", " ".join(para.split()))
        for sent in sentences(para):
            if not _is_sentence(sent) or _BOILERPLATE.search(sent) or same_as_headline(sent, headline):
                continue
            if chosen and used + len(sent) + 1 > LEDE_CHARS:
                return " ".join(chosen)
            if not chosen and len(sent) > LEDE_CHARS:
                continue  # one over-long sentence would have to be cut mid-thought: look further
            chosen.append(sent)
            used += len(sent) + 1
            if len(chosen) >= LEDE_SENTENCES:
                return " ".join(chosen)
        if chosen:
            return " ".join(chosen)  # the lede stays within its first paragraph
    return " ".join(chosen)


def entity_sentences(tax: Any, title: str, text: str) -> dict[str, list[str]]:
    """Tag slug -> the body sentences that mention it, as written (not folded), in order; the title
    is never among them."""
    originals = sentences(text or "")
    by_folded: dict[str, str] = {}
    for s in originals:
        by_folded.setdefault(s if s.isascii() else fold(s), s)
    found, _ = tax.analyse("", text or "")
    out: dict[str, list[str]] = {}
    for slug, hit in found.items():
        keep = []
        for folded in hit.sentences:
            sent = _DATELINE_PREFIX.sub("", " ".join(by_folded.get(folded, folded).split()))
            if _is_sentence(sent) and len(sent) <= EVIDENCE_CHARS and not same_as_headline(sent, title) \
                    and not _BOILERPLATE.search(sent):
                keep.append(sent)
        if keep:
            out[slug] = keep
    return out


def stance_evidence(candidates: dict[str, list[str]], stances: dict[str, str],
                    already_shown: str = "") -> dict[str, str]:
    """Slug -> the sentence that carries its stance: the first candidate whose own tone is that
    stance. Each sentence has one tone, so a sentence quoted for two entities is quoted with the
    same stance both times; a sentence already quoted is used again only when there is no other.
    A sentence of `already_shown` (the lede just above) is never quoted: the reader has just read it.
    A slug with no agreeing sentence gets no quote."""
    pool = sorted({s for slug in stances for s in candidates.get(slug, []) if s not in already_shown})
    tones = dict(zip(pool, (label for label, _ in tone.classify(pool)), strict=True))
    out: dict[str, str] = {}
    used: set[str] = set()
    for slug, wanted in stances.items():
        agreeing = [s for s in candidates.get(slug, []) if tones.get(s) == wanted]
        fresh = [s for s in agreeing if s not in used]
        pick = next(iter(fresh or agreeing), None)
        if pick is not None:
            out[slug] = pick
            used.add(pick)
    return out


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when it has to be."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:–—-") + "…"
