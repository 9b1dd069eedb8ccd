"""The digest as an editor would write it (issue 12): outlet names not slugs, clean headlines, a
lede of whole sentences, stance quotes from the body that carry the stance, coverage that counts
notices, subject lines under 90 characters, and archived pages whose chart is a file beside them."""
from __future__ import annotations

import re
from pathlib import Path

import lxml.html

from pipelines import digest, story_view, subscribers
from tests.digest_week import HEADLINE, OUTLETS, WEEK, build


def test_lede_is_whole_sentences_never_byline_caption_or_boilerplate() -> None:
    text = ("By Jo Bloggs, Crime Correspondent\nPhoto: officers outside the station.\nMANCHESTER —\n"
            "LONDON (XY) - Greater Manchester Police has paused its use of retrospective facial recognition after "
            "an audit found errors. The force said it would publish the audit next month. A third sentence here.\n"
            "Sign up to our newsletter for more news like this today.")
    lede = story_view.lede(text, "Police pause facial recognition")
    assert lede == ("Greater Manchester Police has paused its use of retrospective facial recognition after an "
                    "audit found errors. The force said it would publish the audit next month.")
    # A paragraph with no whole sentence gives no lede, never a fragment cut mid-word.
    assert story_view.lede("Police pause facial recognition after audit finds err", "x") == ""
    assert story_view.lede("Police pause facial recognition", "Police pause facial recognition") == ""


def test_same_as_headline_catches_the_headline_with_a_full_stop_added() -> None:
    h = "Who could replace Palantir at the Met?"
    assert story_view.same_as_headline("Who could replace Palantir at the Met?.", h)
    assert story_view.same_as_headline("Members' briefing: who could replace Palantir at the Met? Read on.", h)
    assert not story_view.same_as_headline("Palantir said it would bid again for the Met contract.", h)


def test_subject_is_profile_week_and_headline_under_90_characters() -> None:
    long = "An extremely long headline about the Metropolitan Police and its contract with Palantir and others"
    subject = digest.subject_line("vendor", WEEK, long)
    assert subject.startswith(f"Scrutineer vendor, {WEEK}: An extremely") and len(subject) < 90
    assert subject.endswith("…") and not subject[:-1].endswith(" ")
    assert long.startswith(subject.split(": ", 1)[1][:-1])  # cut at a word boundary
    assert digest.subject_line("rights", WEEK, "Short one") == f"Scrutineer rights, {WEEK}: Short one"


def test_digest_names_outlets_quotes_bodies_and_counts_notices(sqlite_url: str, tmp_path: Path) -> None:
    settings = build(sqlite_url)
    for profile in ("rights", "vendor", "analyst"):
        subscribers.add(settings, f"{profile}@example.org", profile)
    report = digest.run(settings, week=WEEK, out=tmp_path / "out")
    assert len(report.digests) == 3
    for d in report.digests:
        subject = str(d.message["Subject"])
        assert len(subject) < 90 and subject.startswith(f"Scrutineer {d.profile}, {WEEK}: ")
        page = lxml.html.fromstring(d.html)
        shown = page.text_content() + " " + d.text + " " + subject
        # No source slug where an outlet belongs: subject, links, labels, coverage statement.
        for slug in OUTLETS:
            assert slug not in shown, (d.profile, slug)
        assert "The Harbour Ledger" in shown and "Contracts Board" in shown
        assert "| News |" not in shown  # the site name and section are not part of a headline
        headlines = [h.text_content().strip() for h in page.iter("h3")]
        assert HEADLINE in headlines
        # Ledes: whole sentences from the first report, no byline, caption, dateline or sign-up line.
        ledes = [p.text_content() for p in page.find_class("lede")]
        assert any(x.startswith("The Metropolitan Police will keep using Palantir") for x in ledes)
        assert not any(re.search(r"Photo:|^By |Sign up|LONDON \(", x) for x in ledes)
        # Quotes: body sentences, never the headline nor containing it; one tone per sentence.
        tones: dict[str, set[str]] = {}
        for story in page.find_class("story"):
            title = story.find(".//h3").text_content().strip()
            for p in story.find_class("stance"):
                q = p.find(".//q")
                if q is None:
                    continue
                quote = q.text_content()
                assert not story_view.same_as_headline(quote, title), quote
                assert title not in quote and quote not in title
                tone = re.search(r"\((negative|neutral|positive)\)", p.text_content()).group(1)
                tones.setdefault(quote, set()).add(tone)
        assert tones and all(len(t) == 1 for t in tones.values()), tones
        # Coverage: the procurement source brought notices; it is not "silent".
        statement = page.get_element_by_id("coverage-statement").text_content()
        assert "Contracts Board brought 2 procurement notices" in statement
        assert "silent" not in statement
    vendor = next(d for d in report.digests if d.profile == "vendor")
    watch = lxml.html.fromstring(vendor.html).get_element_by_id("tender-watch").text_content()
    assert "CPV 72300000" in watch and "In the news:" in watch
    assert "Rival suppliers line up for the Met's workforce standards tender" in watch


def test_archived_page_shows_the_chart_file_and_the_index_lists_weeks_and_profiles(sqlite_url: str) -> None:
    settings = build(sqlite_url)
    subscribers.add(settings, "rights@example.org", "rights")
    subscribers.add(settings, "vendor@example.org", "vendor")
    report = digest.run(settings, week=WEEK)
    root = digest.archive_dir(settings)
    for d in report.digests:
        stem = digest.file_stem(d.email, WEEK)
        page = lxml.html.fromstring((root / WEEK / f"{stem}.html").read_text(encoding="utf-8"))
        srcs = [img.get("src") for img in page.iter("img")]
        assert srcs == [f"{stem}.png"]
        png = root / WEEK / srcs[0]
        assert png.read_bytes().startswith(b"\x89PNG") and png.read_bytes() == d.chart
        # The mail keeps the inline Content-ID part.
        html_part = d.message.get_body(("html",)).get_content()
        assert f'src="cid:{digest.CHART_CID}"' in html_part
        assert any(p.get("Content-ID") == f"<{digest.CHART_CID}>" for p in d.message.walk())
    index = (root / "index.html").read_text(encoding="utf-8")
    assert WEEK in index and "rights: rights@example.org" in index and "vendor: vendor@example.org" in index
