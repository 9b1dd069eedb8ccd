"""One language detector (issue 13 item 6): the crawler records the page's own declaration, and
enrichment's py3langid is the only thing that detects a language from the text."""
from __future__ import annotations

from core.settings import Settings
from crawlers.extract import declared_language, extract_article
from pipelines.enrich import detect_language, enrich_one

ENGLISH = ("Councillors voted on Tuesday to close the library in the town centre after a review "
           "found that the building was in poor repair and that visitor numbers had fallen for years. ")
FRENCH = ("Le conseil municipal a voté mardi la fermeture de la bibliothèque du centre-ville après "
          "un rapport qui constate que le bâtiment est en mauvais état et que la fréquentation baisse. ")


def _page(lang: str | None, body: str) -> bytes:
    attr = f' lang="{lang}"' if lang else ""
    return (f"<html{attr}><head><title>Library to close</title></head><body><article><h1>Library to close</h1>"
            + "".join(f"<p>{body}</p>" for _ in range(4)) + "</article></body></html>").encode()


def test_the_crawler_records_the_declaration_and_never_guesses() -> None:
    assert declared_language("en-GB") == "en" and declared_language("pt_BR") == "pt"
    assert declared_language(None) is None and declared_language("") is None
    assert extract_article("https://gazette.example/a", _page("en-GB", ENGLISH)).language == "en"
    # English text without a declaration: the crawler says nothing; detection is enrichment's job.
    assert extract_article("https://gazette.example/b", _page(None, ENGLISH)).language is None


def test_enrichment_detects_from_the_text_over_a_wrong_declaration() -> None:
    assert detect_language(ENGLISH, None) == "en"
    assert detect_language(FRENCH, "en") == "fr"  # the text wins over the page's claim
    assert detect_language("Bref.", "fr") == "fr"  # too little text: the declaration stands
    row = {"id": "x", "title": "La bibliothèque ferme", "text": FRENCH * 2, "summary": "", "language": "en",
           "extraction": "trafilatura"}
    result = enrich_one(row, Settings())
    assert result["language"] == "fr" and result["sentiment_flag"] == "not-english"
