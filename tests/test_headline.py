"""Headlines as the outlet wrote them, and outlet names (crawlers/headline.py, issue 12).

Saved pages in tests/data/headlines/ (invented outlets) go through the same extract_article the
spiders run; the string cases cover every separator style sites use, and the headlines that merely
contain a separator, which must never be cut.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from crawlers.extract import extract_article
from crawlers.headline import feed_outlet, learn_outlet, name_key, shared_affix, strip_outlet

PAGES = Path(__file__).parent / "data" / "headlines"


@pytest.mark.parametrize(("raw", "names", "want"), [
    ("Rival technology firms line up for Met's new AI contract | Northgate Wire", ["Northgate Wire"],
     "Rival technology firms line up for Met's new AI contract"),
    ("Camera vans return to city centre - Peterborough Echo", ["Peterborough Echo"],
     "Camera vans return to city centre"),
    ("Camera vans return to city centre – Glasshouse", ["Glasshouse"], "Camera vans return to city centre"),
    ("Camera vans return to city centre — Glasshouse", ["Glasshouse"], "Camera vans return to city centre"),
    ("Camera vans return to city centre · Glasshouse", ["Glasshouse"], "Camera vans return to city centre"),
    ("Camera vans return to city centre • Glasshouse", ["Glasshouse"], "Camera vans return to city centre"),
    ("Camera vans return to city centre » Glasshouse", ["Glasshouse"], "Camera vans return to city centre"),
    ("Camera vans return to city centre :: Glasshouse", ["Glasshouse"], "Camera vans return to city centre"),
    ("Camera vans return to city centre / Glasshouse", ["Glasshouse"], "Camera vans return to city centre"),
    ("Camera vans return to city centre|Glasshouse", ["Glasshouse"], "Camera vans return to city centre"),
    ("Camera vans return｜グラスハウス", ["グラスハウス"], "Camera vans return"),
    # Section crumbs beside the name go with it; "The" and case do not hide the name.
    ("Police AI row | Comment | The Capital Ledger", ["The Capital Ledger"], "Police AI row"),
    ("Police AI row | UK news | capital ledger", ["The Capital Ledger"], "Police AI row"),
    ("Police AI row | Capital Ledger | Opinion", ["The Capital Ledger"], "Police AI row"),
    ("Police AI row | Comment | Capital Ledger | London's independent daily", ["The Capital Ledger"], "Police AI row"),
    # Prefixes.
    ("Glasshouse: Camera vans return to city centre", ["Glasshouse"], "Camera vans return to city centre"),
    ("Glasshouse | Camera vans return to city centre", ["Glasshouse"], "Camera vans return to city centre"),
    ("Glasshouse - Comment - Camera vans return", ["Glasshouse"], "Camera vans return"),
    # A name that holds a separator itself, and a longer spelling of the stated name.
    ("Camera vans return - Peterborough Echo - Local news", ["Peterborough Echo - Local news"], "Camera vans return"),
    ("Gates on policing: what changes | CNN Politics", ["CNN"], "Gates on policing: what changes"),
])
def test_outlet_name_is_cut_at_every_separator_style(raw: str, names: list[str], want: str) -> None:
    assert strip_outlet(raw, names) == want


@pytest.mark.parametrize(("raw", "names"), [
    ("Palantir – the row explained", ["Glasshouse"]),
    ("Met AI: what we know", ["Glasshouse"]),
    ("Met AI - the row explained", ["Northgate Wire"]),
    ("Who watches the watchers? | Comment", ["The Capital Ledger"]),  # a crumb alone is not a name
    ("Police chief: 'we will publish the audit'", []),
    ("Northgate Wire staff win press award for AI series", ["Northgate Wire"]),  # the name, but no separator
    ("Glasshouse: a history of the Met's cameras – part one", ["Glasshouse Review"]),
])
def test_headline_that_merely_contains_a_separator_is_kept(raw: str, names: list[str]) -> None:
    assert strip_outlet(raw, names) == raw


def test_the_page_host_spells_the_outlet_when_nothing_else_does() -> None:
    assert strip_outlet("Force buys AI triage tool | Northgate Wire", [],
                        url="https://www.northgatewire.example/news/1") == "Force buys AI triage tool"
    assert strip_outlet("Force buys AI triage tool | Northgate Wire", [],
                        url="http://127.0.0.1:8080/news/1") == "Force buys AI triage tool | Northgate Wire"


@pytest.mark.parametrize(("page", "headline", "raw_title", "site_name"), [
    # JSON-LD inside @graph beats the <title> with section crumb and a logo <h1>.
    ("graph-jsonld.html", "Rival technology firms line up for Met's new AI contract",
     "Rival technology firms line up for Met's new AI contract | Comment | The Capital Ledger", "The Capital Ledger"),
    # No metadata at all: the article's <h1>, which the <title> confirms; its own "–" is kept.
    ("h1-only.html", "Palantir – the row explained", "Palantir – the row explained – Glasshouse", None),
    # og:site_name names the prefix; the colon inside the headline stays.
    ("og-site-name-prefix.html", "Met AI: what we know", "Glasshouse: Met AI: what we know", "Glasshouse"),
    # Only a <title>: cut by application-name.
    ("title-only-suffix.html", "Council votes to pause camera van trial",
     "Council votes to pause camera van trial - Peterborough Echo", "Peterborough Echo"),
    # Nothing names the outlet: og:title is the <h1> plus furniture, so the <h1> is the headline.
    ("og-suffix-no-name.html", "Fenland force to trial number-plate AI on rural roads",
     "Fenland force to trial number-plate AI on rural roads | Fenland Times", None),
    # og:title/twitter:title are a social rewrite; the <h1> the <title> confirms is the headline.
    ("social-headline.html", "Force buys AI triage tool for 999 calls",
     "Force buys AI triage tool for 999 calls | Northgate Wire", None),
])
def test_saved_page_headline(page: str, headline: str, raw_title: str, site_name: str | None) -> None:
    fields = extract_article("https://outlet.example/news/" + page, (PAGES / page).read_bytes())
    assert fields.title == headline
    assert fields.raw_title == raw_title
    assert (fields.site_names[0] if fields.site_names else None) == site_name


def test_home_page_title_is_never_the_site_name_or_a_heading() -> None:
    fields = extract_article("https://courier.example/", (PAGES / "home-page.html").read_bytes())
    assert fields.title not in ("The Nene Valley Courier", "Latest", "")
    assert fields.site_names == ["The Nene Valley Courier"]


@pytest.mark.parametrize(("feed_title", "want"), [
    ("The Capital Ledger - All stories", "The Capital Ledger"),
    ("The Nene Valley Courier - Latest", "The Nene Valley Courier"),
    ("Glasshouse RSS", "Glasshouse"),
    ("Northgate Wire | Latest News", "Northgate Wire"),
    ("Peterborough Echo - News", "Peterborough Echo"),
    ("Sky News", "Sky News"),  # "News" after a bare space is part of the name
    ("Sky News RSS", "Sky News"),
    ("MPA Top News", "MPA"),
    ("CivicStack", "CivicStack"),
    ("RSS", None),
    (None, None),
])
def test_feed_title_cleaned_to_the_outlet(feed_title: str | None, want: str | None) -> None:
    assert feed_outlet(feed_title) == want


def test_shared_suffix_of_a_sources_titles() -> None:
    titles = ["Drone trial extended - Peterborough Echo", "Vans return - Peterborough Echo",
              "Chief: we will publish - Peterborough Echo", "A headline with no suffix"]
    assert shared_affix(titles) == "Peterborough Echo"
    assert shared_affix(titles[:1]) is None  # one title is too few to say
    assert shared_affix(["One | Northgate Wire", "Two | Northgate Wire", "Three", "Four", "Five"]) is None
    assert shared_affix(["Glasshouse: one", "Glasshouse: two", "Glasshouse: three"]) == "Glasshouse"
    # A crumb every title shares is not an outlet.
    assert shared_affix(["One | News", "Two | News", "Three | News"]) is None
    # Kickers and series are shared too, but are not names; a title repeated counts once.
    assert shared_affix(["Analysis: one", "Analysis: two", "Analysis: three"]) is None
    assert shared_affix(["One – explained", "Two – explained"]) is None
    assert shared_affix(["Met pilot: what the data shows", "Met pilot: what the data shows", "Other"]) is None
    assert shared_affix(["Glasshouse: one", "Glasshouse: two", "Other"], where=("end",)) is None
    # Different endings: no shared name.
    assert shared_affix(["Palantir – the row explained", "Met AI – what we know", "Vans – a guide"]) is None


def test_learnt_outlet_prefers_pages_then_feed_then_suffix() -> None:
    suffixed = ["a - Meridian Press Association", "b - Meridian Press Association", "c - Meridian Press Association"]
    assert learn_outlet(["The Capital Ledger", "the capital ledger", "The Capital Ledger", "Ledger Live"],
                        "Capital Ledger RSS", suffixed) == "The Capital Ledger"
    assert learn_outlet([], "The Nene Valley Courier - Latest", suffixed) == "The Nene Valley Courier"
    assert learn_outlet([], None, suffixed) == "Meridian Press Association"
    # A feed titled with the initials of the name every page carries: the full name.
    assert learn_outlet([], "MPA Top News", suffixed) == "Meridian Press Association"
    assert learn_outlet([], None, ["x", "y"]) is None
    # The cruder spelling gives way: a domain as og:site_name, a feed title holding the name.
    assert learn_outlet(["northgatewire.example"] * 3, "Northgate Wire", []) == "Northgate Wire"
    assert learn_outlet(["CNNArabic.com"], None, []) == "CNNArabic.com"
    suffixed_ngw = ["a | Northgate Wire", "b | Northgate Wire"]
    assert learn_outlet([], "Latest from Northgate Wire", suffixed_ngw) == "Northgate Wire"
    # A name given with its tagline or section: the name.
    assert learn_outlet(["Northgate Wire | News from the North", "Northgate Wire"], None, []) == "Northgate Wire"
    assert feed_outlet("Glasshouse – Notes on surveillance, power and rights") == "Glasshouse"
    assert feed_outlet("Comment | The Capital Ledger") == "The Capital Ledger"


def test_name_key_ignores_the_case_and_punctuation() -> None:
    assert name_key("The Capital Ledger") == name_key("capital-ledger") == name_key("CAPITAL LEDGER")
    assert name_key("The") == "the"
