"""Entity stance comes from the body sentences about the entity, and its evidence is the sentence
that carries it (issue 15); the harness scores a stance file and a tone file from the command line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipelines import tone
from pipelines.enrich import stances
from pipelines.taxonomy import load

HERE = Path(__file__).parent
PIPELINES = HERE.parent / "pipelines"


def _stances(title: str, text: str) -> dict[str, tuple[float, str]]:
    tax = load(PIPELINES / "taxonomy.yaml", PIPELINES / "gazetteer.yaml")
    found, _ = tax.analyse(title, text)
    return stances(title, tax.substantive(found, True))


def test_headline_does_not_decide_stance_and_evidence_carries_it() -> None:
    got = _stances("Met Police praised for a brilliant, hugely successful crackdown",
                   "The Metropolitan Police will publish its figures on Tuesday.\n\n"
                   "Palantir was criticised for a failed and badly flawed system that wasted millions.")
    assert tone.label_for(got["met-police"][0]) == "neutral"  # only the headline praises it
    assert got["met-police"][1] == "The Metropolitan Police will publish its figures on Tuesday."
    assert tone.label_for(got["palantir"][0]) == "negative"
    assert got["palantir"][1].startswith("Palantir was criticised")


def test_one_stance_per_entity_consistent_with_stored_polarity() -> None:
    got = _stances("Palantir contract news", "Palantir will present its plans in March.\n\n"
                   "Campaigners condemned Palantir's unlawful and intrusive system as a disgrace.")
    polarity, evidence = got["palantir"]
    label, sentence_polarity = tone.classify([evidence])[0]
    assert tone.label_for(polarity) == tone.label_for(sentence_polarity) == "negative"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evaluation.sentiment_eval", *args], capture_output=True,
                          text=True, cwd=HERE.parent, check=False)


def test_stance_file_scored_from_the_command_line() -> None:
    done = _run(str(HERE / "data" / "stance_dev.yaml"))
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["labelled"] == 5 and got["found"] >= 4
    assert got["stance_macro_f1"] >= 0.6 and got["evidence_agreement"] >= 0.6


def test_tone_file_scored_with_textblob_beside() -> None:
    done = _run(str(HERE / "data" / "sentiment_labelled.yaml"))
    got = json.loads(done.stdout)
    assert set(got["scrutineer_per_class"]) == {"negative", "neutral", "positive"}
    assert got["scrutineer_macro_f1"] > got["textblob_best_macro_f1"]


def test_bad_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("items: [{id: x}]\n", encoding="utf-8")
    done = _run(str(bad))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
