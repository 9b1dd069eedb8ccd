"""Text helpers every judgement stage shares: a matching form of text and offline sentences.

Matching runs on NFKC, zero-width-free, accent-folded text so "Ｍｅｔ Ｐｏｌｉｃｅ", "Pala\u200bntir"
and "Café" (NFD) all match their plain spellings (UAX #15); offsets stay aligned with the
original because the folding is applied character by character.
"""
from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "Sir", "St", "Prof", "Supt", "Insp", "Sgt", "Det", "Con",
                  "Cllr", "Rev", "Gen", "Lt", "Col", "No", "vs", "etc", "Jan", "Feb", "Mar", "Apr",
                  "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec", "Ltd", "Inc", "Co")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9£$])")


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _without_marks(m: re.Match[str]) -> str:
    return "".join(c for c in m.group() if not unicodedata.combining(c))


def fold(text: str) -> str:
    """NFKC, zero-width characters removed, accents stripped, curly quotes made straight."""
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    # Marks are dropped run by run over the non-ASCII stretches only (ASCII has none): the same
    # result as testing every character, a fraction of the time on English text.
    text = _NON_ASCII.sub(_without_marks, unicodedata.normalize("NFKD", text))
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


def sentences(text: str) -> list[str]:
    """Split into sentences with no corpus: paragraph breaks, then end punctuation followed by a
    capital, except after common abbreviations (TextBlob's `.sentences` needs NLTK punkt)."""
    out: list[str] = []
    for para in text.split("\n"):
        para = para.strip()
        if not para:
            continue
        start = 0
        for m in _SENTENCE_END.finditer(para):
            before = para[start:m.start()].rstrip(".!?…\"'”’)] ")
            last_word = before.rsplit(" ", 1)[-1] if before else ""
            if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isupper()):
                continue
            out.append(para[start:m.start()].strip())
            start = m.end()
        tail = para[start:].strip()
        if tail:
            out.append(tail)
    return out
