"""Who acts, as the story grouper reads it (pipelines/actors.py): the actors and places a headline
and lead name keep two forces' same-week actions apart, bring a differently worded report of one
force's act together, and mark a later act by someone new as a new story (TAGGING_GUIDE.md,
"Stories and threads"). The towns, forces and people below are invented."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from core.settings import Settings
from pipelines.actors import names, who_acts
from pipelines.stories import assign, other_actors
from pipelines.taxonomy import load

T0 = datetime(2026, 11, 3, 8, tzinfo=timezone.utc)
TAX = load(Settings().taxonomy, Settings().gazetteer)


def _row(rid: str, title: str, text: str, hours: float) -> dict:
    at = T0 + timedelta(hours=hours)
    return {"id": rid, "title": title, "text": text, "summary": "", "published_at": at, "first_seen_at": at,
            "duplicate_of": None, "story_id": None}


#: Unrelated news around the rows under test: in a window of three articles every shared word has no
#: weight, and nothing would join anything.
OTHERS = [("Drones sent to 999 calls in county trial", "Police drones will fly to emergency calls in a trial."),
          ("Force pauses chatbot after errors", "A police chatbot for non-emergency calls was paused."),
          ("Deepfake fraud arrest in Calderbrook", "A man was arrested over a deepfake video call scam."),
          ("Audit finds bias in patrol tool", "An audit found a patrol tool sent officers to one estate."),
          ("Storm brings gales to the coast", "An amber warning for wind covers the coast on Friday."),
          ("Council signs CCTV data deal", "The council will share its CCTV network with police analysts.")]


def _grouped(rows: list[dict]) -> dict[str, str]:
    rows = rows + [_row(f"o{i}", title, text, 1 + 4 * i) for i, (title, text) in enumerate(OTHERS)]
    return assign(rows, {r["id"] for r in rows}, TAX)


def test_names_are_what_the_writer_capitalises_mid_sentence() -> None:
    text = ("Officers in Tollbury will use drones from Monday. Tollbury Police said the trial runs for six "
            "months. Just two drones are involved, the force said.")
    got = names(text)
    assert "tollbury" in got
    assert not {"officers", "just", "police", "monday"} & got


def test_a_shouted_or_title_case_headline_adds_only_names_the_body_confirms() -> None:
    got = who_acts("FLYING SQUAD: Drones Beat Cops To Calls", "Drones sent by Tollbury Police reached most "
                   "calls first, the force in Tollbury said.", TAX)
    assert got.lead == {"name:tollbury"}


def test_taxonomy_entities_count_as_actors_under_any_alias() -> None:
    got = who_acts("City Hall halts Met deal", "The Mayor's Office for Policing and Crime has refused the "
                   "contract with the Metropolitan Police.", TAX)
    assert {"entity:mopac", "entity:met-police"} <= got.lead and "entity:mopac" in got.mentions


def test_actors_must_meet_both_ways() -> None:
    tollbury = (frozenset({"name:tollbury"}), frozenset({"name:tollbury", "name:drones"}))
    marsden = (frozenset({"name:marsden"}), frozenset({"name:marsden", "name:drones"}))
    recap = (frozenset({"name:marsden"}), frozenset({"name:marsden", "name:tollbury"}))
    assert other_actors(tollbury, marsden)
    assert not other_actors(tollbury, (set(), set()))  # a lead naming no one decides nothing
    assert other_actors(recap, tollbury)  # mentions Tollbury, but Tollbury's story never names Marsden
    assert not other_actors((frozenset({"name:tollbury"}), frozenset({"name:tollbury", "name:marsden"})), recap)


def test_the_headline_subject_is_the_first_actor_of_its_main_clause() -> None:
    body = "Commissioner Ada Pellow told the board on Friday that Tollbury Police will add checks."
    assert who_acts("Pellow pledges new checks after Tollbury audit", body, TAX).subject == "name:pellow"
    assert who_acts("What the audit does not say", body, TAX).subject is None


TRIAL = ("{force} Police will start a six-month trial of live facial recognition cameras in {town} town centre "
         "on Saturday, the force said. The vans will scan faces against a watchlist of wanted people, and "
         "{force} Police said the trial would be reviewed by its ethics panel.")


def test_two_forces_announcing_the_same_kind_of_trial_are_two_stories() -> None:
    rows = [_row("a", "Tollbury Police to trial facial recognition cameras in town centre",
                 TRIAL.format(force="Tollbury", town="Tollbury"), 0),
            _row("b", "Facial recognition trial for Tollbury town centre", TRIAL.format(force="Tollbury",
                 town="Tollbury"), 3),
            _row("c", "Marsden Police to trial facial recognition cameras in town centre",
                 TRIAL.format(force="Marsden", town="Marsden"), 5)]
    got = _grouped(rows)
    assert got["a"] == got["b"] != got["c"]


def test_a_later_act_by_someone_the_story_never_named_is_a_new_story() -> None:
    audit = ("An audit commissioned by the Mayor's Office for Policing and Crime found that the Metropolitan "
             "Police kept incomplete records for a quarter of its facial recognition deployments.")
    pledge = ("Commissioner Ada Pellow said every facial recognition deployment will need sign-off, a day "
              "after an audit commissioned by the Mayor's Office for Policing and Crime found that the "
              "Metropolitan Police kept incomplete records for a quarter of its facial recognition "
              "deployments. Pellow said the change starts on Monday.")
    rows = [_row("a", "MOPAC audit finds gaps in Met facial recognition records", audit, 0),
            _row("b", "Audit finds gaps in Met facial recognition records", audit, 2),
            _row("c", "Pellow pledges sign-off after audit finds gaps in Met facial recognition records",
                 pledge, 30)]
    got = _grouped(rows)
    assert got["a"] == got["b"] != got["c"]


def test_a_piece_in_its_own_words_on_the_same_forces_act_that_morning_joins_it() -> None:
    wire = ("Tollbury Police began sending remotely piloted drones to selected emergency calls on Tuesday in a "
            "six-month trial. Two drones based at the central station can reach most of the county within "
            "minutes, the force said, and officers will follow by car.")
    trade = ("Tollbury Police's drone response trial went live this week, and county forces with long rural "
             "journeys should watch closely. The set-up is lean: docked quadcopters with thermal payloads, "
             "remote launch from the control room and a target of four minutes to scene.")
    rows = [_row("a", "Tollbury Police sends drones to 999 calls in six-month trial", wire, 0),
            _row("b", "Drones sent to emergency calls in Tollbury trial", wire, 1),
            _row("c", "Tollbury goes live with a template for county forces", trade, 6)]
    got = _grouped(rows)
    assert got["a"] == got["b"] == got["c"]


def test_grouping_does_not_depend_on_ids_crawl_order_or_row_order() -> None:
    """Ids are hashes of URLs (a port, a tracking parameter changes them) and which copy of a report
    is the original depends on crawl order: the stories must be the same whatever they are. A dev
    set goes through twice: as labelled, and with every id renamed, every near-duplicate cluster's
    root moved to its last copy and the rows in reverse order."""
    import hashlib
    import random
    from pathlib import Path

    import yaml

    items = yaml.safe_load((Path(__file__).parent / "data" / "stories_dev_fresh2.yaml").read_text())["articles"]

    def rows(rename: bool) -> list[dict]:
        ids = {it["id"]: (hashlib.sha256(b"port-8081" + it["id"].encode()).hexdigest()[:16] if rename else it["id"])
               for it in items}
        copies: dict[str, list[str]] = {}
        for it in items:
            copies.setdefault(it["duplicate_of"] or it["id"], []).append(it["id"])
        root = {m: (ms[-1] if rename else ms[0]) for ms in copies.values() for m in ms}
        out = []
        for it in items:
            at = datetime.fromisoformat(str(it["published_at"]).replace("Z", "+00:00"))
            r = _row(ids[it["id"]], it["title"], it["text"], 0)
            r.update(published_at=at, first_seen_at=at, label=it["id"],
                     duplicate_of=None if root[it["id"]] == it["id"] else ids[root[it["id"]]])
            out.append(r)
        if rename:
            random.Random(7).shuffle(out)
        return out

    def partition(rs: list[dict]) -> set[frozenset[str]]:
        got = assign(rs, {r["id"] for r in rs}, TAX)
        groups: dict[str, set[str]] = {}
        for r in rs:
            groups.setdefault(got[r["id"]], set()).add(r["label"])
        return {frozenset(g) for g in groups.values()}

    plain, renamed = partition(rows(False)), partition(rows(True))
    assert len(plain) > 10
    assert plain == renamed
