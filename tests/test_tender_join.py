"""Tender notices joined to the week's news on specific evidence only (issue 12, part 4)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lxml.html
import pytest

import demo
from core.settings import Settings
from pipelines import digest, tender_join
from pipelines.taxonomy import load
from storage import notices as notice_store
from storage.db import get_engine, read

NOTICE = {"id": "n1", "ocid": "ocds-abc-771122", "title": "Live facial recognition vans for Peterborough deployments",
          "buyer": "Cambridgeshire Constabulary", "suppliers": ["Northgate Vision Systems Ltd"], "cpv": ["35125000"],
          "url": "https://www.find-tender.service.gov.uk/Notice/004417-2026"}


@pytest.fixture(scope="module")
def tax() -> Any:
    s = Settings()
    return load(s.taxonomy, s.gazetteer)


def _art(aid: str, title: str, text: str, story: str | None = None) -> dict[str, Any]:
    return {"id": aid, "story_id": story or aid, "title": title, "text": text}


def test_joins_on_specific_evidence(tax: Any) -> None:
    cites = _art("a1", "Police publish van contract", "The award notice 004417-2026 was published on Friday.")
    supplier = _art("a2", "Peterborough vans", "Cambridgeshire Constabulary confirmed Northgate Vision Systems "
                                              "will supply the vans under the contract.")
    buyer_title = _art("a3", "Cambridgeshire police award Peterborough deployments contract",
                       "Cambridgeshire Police has awarded a contract for live facial recognition vans for its "
                       "Peterborough deployments after a procurement process.")
    matches = tender_join.join([NOTICE], [cites, supplier, buyer_title], tax)
    why = {m.article: m.why for m in matches}
    assert set(why) == {"a1", "a2", "a3"}
    assert why["a1"] == ["cites 004417-2026"]
    assert why["a2"][0] == "names the supplier Northgate Vision Systems"


def test_generic_words_never_join(tax: Any) -> None:
    generic = [
        _art("g1", "Police expand use of AI", "Police forces across England are buying more AI and data platforms, "
                                              "and the Home Office has awarded a contract for facial recognition."),
        _art("g2", "Met Police facial recognition vans in Croydon", "The Metropolitan Police used live facial "
                                                                    "recognition vans in Croydon on Saturday."),
        _art("g3", "Cambridgeshire police at Peterborough match", "Cambridgeshire Constabulary officers policed the "
                                                                   "match in Peterborough without incident."),
    ]
    assert tender_join.join([NOTICE], generic, tax) == []


def test_supplier_core_drops_legal_suffixes() -> None:
    assert tender_join.supplier_core("Northgate Vision Systems Ltd.") == "Northgate Vision Systems"
    assert tender_join.supplier_core("Acme Analytics (UK) Limited") == "Acme Analytics"
    assert tender_join.supplier_names("Palantir Technologies UK Ltd") == ["Palantir Technologies", "Palantir"]
    assert tender_join.supplier_names("Data Services Ltd") == []  # generic words name no one


def test_a_supplier_by_its_everyday_name_with_the_buyer(tax: Any) -> None:
    notice = {"id": "m", "ocid": "ocds-x-1", "title": "Workforce standards data platform",
              "buyer": "Metropolitan Police Service", "suppliers": ["Palantir Technologies UK Ltd"], "url": None}
    story = _art("p1", "Met keeps Palantir", "The Met has bought another year of Palantir software.")
    place = _art("p2", "Northgate estate", "Residents of the northgate vision group met Met officers.")
    lfr = {**NOTICE, "url": None}
    assert tender_join.join([notice], [story], tax)[0].why == ["names the supplier Palantir",
                                                              "and the buyer Metropolitan Police Service"]
    assert tender_join.join([lfr], [place], tax) == []


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    demo.run(out)
    return out


def test_demo_vendor_digest_shows_every_notice_with_coverage(demo_run: Path) -> None:
    settings = Settings(db=f"sqlite:///{demo_run / 'scrutineer.sqlite'}")
    data = digest.gather(settings, demo.DEMO_WEEK)
    start, end = digest.weeks.window(demo.DEMO_WEEK)
    week_story_ids = {s["id"] for s in data.stories}
    with read(get_engine(settings.db)) as conn:
        notices = notice_store.notices_between(conn, start, end)
        joined = tender_join.story_ids_for_notices(conn, notices)
    covered = {n["title"]: [s for s in joined[n["id"]] if s in week_story_ids] for n in notices}
    assert covered["Workforce standards data platform"], covered  # the MOPAC/Met re-run tender is in the news
    html = (demo_run / "digest" / f"{digest.file_stem('vendor@demo.scrutineer.invalid', demo.DEMO_WEEK)}.html")
    watch = lxml.html.fromstring(html.read_text(encoding="utf-8")).get_element_by_id("tender-watch")
    rows = {r.find(".//a").text_content(): r for r in watch.find_class("notice")}
    for title, stories in covered.items():
        news = rows[title].find_class("in-the-news")
        assert bool(news) == bool(stories), title
        if stories:
            headlines = {s["id"]: s["headline"] for s in data.stories}
            for sid in stories:
                assert headlines[sid] in news[0].text_content()
        assert "CPV" in rows[title].text_content()


def test_story_ids_for_notices_reads_the_window(demo_run: Path) -> None:
    settings = Settings(db=f"sqlite:///{demo_run / 'scrutineer.sqlite'}")
    with read(get_engine(settings.db)) as conn:
        all_notices = notice_store.list_notices(conn)
        result = tender_join.story_ids_for_notices(conn)
        far = [{**n, "published_at": datetime(2020, 1, 1, tzinfo=timezone.utc)} for n in all_notices]
        none = tender_join.story_ids_for_notices(conn, far)
    assert set(result) == {n["id"] for n in all_notices}
    assert any(result.values()) and not any(none.values())


def test_a_suppliers_news_about_another_client_is_not_about_this_award(tax: Any) -> None:
    """The supplier and this notice's buyer are both named, but another body opens the story."""
    award = {"id": "h", "ocid": "ocds-x-9", "title": "National number plate analytics module",
             "buyer": "Home Office", "suppliers": ["Tarnwell Data Ltd"], "url": None}
    other = _art("b1", "Riverton picks Tarnwell for clean air zone camera data",
                 "Riverton City Council has chosen Tarnwell Data to run the data platform behind its clean air "
                 "zone cameras in a new contract.\nTarnwell has grown quickly. It was awarded a Home Office "
                 "contract last week for national police work.")
    own = _art("b2", "Tarnwell wins Home Office plate analytics contract",
               "The Home Office has awarded Tarnwell Data a contract for number plate analytics.\nMore follows.")
    assert tender_join.join([award], [other], tax) == []
    assert [m.story for m in tender_join.join([award], [own], tax)] == ["b2"]


def test_a_buyer_named_only_as_an_example_after_the_first_sentence_is_not_the_subject(tax: Any) -> None:
    notice = {"id": "g", "ocid": "ocds-x-10", "title": "Generative AI case file summarisation",
              "buyer": "Wexmoor Police", "suppliers": [], "url": None}
    comment = _art("c1", "Police are buying AI one contract at a time",
                   "Look at a month of procurement notices and you find forces buying software of every kind. "
                   "Wexmoor Police wants generative AI to write case file summaries, in a tender out this week.")
    news = _art("c2", "Wexmoor Police seeks generative AI for case files",
                "Wexmoor Police has opened a tender for generative AI to summarise case files for prosecutors.")
    assert tender_join.join([notice], [comment], tax) == []
    assert [m.story for m in tender_join.join([notice], [news], tax)] == ["c2"]


def test_a_tie_goes_to_the_notice_whose_buyer_opens_the_story(tax: Any) -> None:
    first = {"id": "a", "ocid": "ocds-x-11", "title": "Crime allocation decision support tool",
             "buyer": "Avonford Constabulary", "suppliers": ["Brindle Analytics Ltd"], "url": None}
    second = {"id": "b", "ocid": "ocds-x-12", "title": "Missing persons risk assessment support",
              "buyer": "Lindsey Police", "suppliers": ["Brindle Analytics Ltd"], "url": None}
    story = _art("d1", "Second force award in a month for analytics firm",
                 "Brindle Analytics has won a contract to support risk assessment of missing person reports for "
                 "Lindsey Police.\nThe deal follows an award from Avonford Constabulary for a crime allocation "
                 "tool, a different product.")
    assert {m.notice for m in tender_join.join([first, second], [story], tax)} == {"b"}
