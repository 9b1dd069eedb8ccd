"""The story-boundary rule (tests/data/TAGGING_GUIDE.md, "Stories and threads") as the grouper
applies it: a follow-up action is a new story, a different action is another event, and reports,
rewrites and analyses of one event stay together."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.stories import assign, event_kinds, figures, other_event

T0 = datetime(2026, 11, 10, 9, tzinfo=timezone.utc)
DECISION = ("City Hall's policing office has refused to approve the £50m contract between Scotland Yard and "
            "Palantir, finding a serious breach of procurement rules by officers who ran the tender. The deputy "
            "mayor said the process had not been fair to other suppliers.")


def _row(rid: str, title: str, text: str, hours: float) -> dict:
    at = T0 + timedelta(hours=hours)
    return {"id": rid, "title": title, "text": text, "summary": "", "published_at": at, "first_seen_at": at,
            "duplicate_of": None, "story_id": None}


def test_headline_main_clause_names_the_action() -> None:
    assert event_kinds("Palantir threatens legal fight after London blocks Met contract") == {"legal"}
    assert event_kinds("Scotland Yard keeps Palantir for another year despite City Hall veto") == frozenset()
    assert event_kinds("Analysis: what the ruling tells buyers") == frozenset()


def test_follow_up_and_different_actions_are_other_events() -> None:
    assert other_event(frozenset({"legal"}), {"block"}, timedelta(days=1))       # claim over a decision
    assert other_event(frozenset({"legal"}), set(), timedelta(days=1))           # a follow-up action, later
    assert not other_event(frozenset({"legal"}), set(), timedelta(hours=2))      # ... same-day: the same news
    assert other_event(frozenset({"warning"}), {"extension"}, timedelta(hours=3))  # another action altogether
    assert not other_event(frozenset(), {"block"}, timedelta(days=2))            # an analysis names no action


def test_figures_are_normalised() -> None:
    assert "fig:£5e+07" in figures("a £50m deal") and "fig:£5e+07" in figures("the £50 million contract")
    assert not figures("in 2026, two officers and 12 cameras")


def test_legal_threat_next_day_is_a_new_story_and_analysis_joins_the_decision() -> None:
    rows = [
        _row("a", "Mayor's policing office blocks £50m Met contract with Palantir", DECISION, 0),
        _row("b", "City Hall halts Met's £50m Palantir deal over procurement breach", DECISION, 3),
        _row("c", "Analysis: what the Palantir ruling tells police buyers",
             "The refusal of the £50m Palantir contract by City Hall's policing office, over a breach of "
             "procurement rules by officers who ran the tender, is a warning to every police buyer.", 20),
        _row("d", "Palantir threatens legal challenge over blocked £50m Met contract",
             "Palantir has told City Hall it will seek a judicial review of the refusal of its £50m contract "
             "with Scotland Yard, saying the finding of a procurement breach was wrong.", 30),
    ]
    others = [("Drones sent to 999 calls in county trial", "Police drones will fly to emergency calls in a trial."),
              ("Force pauses chatbot after errors", "A police chatbot for non-emergency calls was paused."),
              ("Deepfake fraud arrest in Calderbrook", "A man was arrested over a deepfake video call scam."),
              ("Audit finds bias in patrol tool", "An audit found a patrol tool sent officers to one estate."),
              ("Storm brings gales to the coast", "An amber warning for wind covers the coast on Friday."),
              ("Council signs CCTV data deal", "The council will share its CCTV network with police analysts.")]
    rows += [_row(f"o{i}", title, text, 2 + 5 * i) for i, (title, text) in enumerate(others)]  # a realistic window
    got = assign(rows, {r["id"] for r in rows})
    assert got["a"] == got["b"] == got["c"]
    assert got["d"] != got["a"]


def test_stories_file_scored_from_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    done = subprocess.run([sys.executable, "-m", "evaluation.corpus_eval",
                           str(root / "tests" / "data" / "dedup_corpus" / "holdout.yaml")],
                          capture_output=True, text=True, cwd=root, check=False)
    assert done.returncode == 0, done.stderr
    figures_ = dict(kv.split("=") for kv in done.stdout.split())
    assert {"story_pair_f1", "story_pair_p", "story_pair_r", "thread_pair_f1", "duplicate_pair_f1"} <= set(figures_)
    bad = tmp_path / "bad.yaml"
    bad.write_text("articles: [{id: x}]\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "evaluation.corpus_eval", str(bad)], capture_output=True,
                          text=True, cwd=root, check=False)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
