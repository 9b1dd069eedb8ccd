"""Story grouping on the story sets that began as independent fresh sets and became dev sets once
tuned on (tests/data/fresh/README.md): stories_dev_fresh1 (scored once at story pair F1 0.857),
stories_dev_fresh2 (scored once at 0.852) and stories_dev_fresh4 (scored once at 0.819 with the
actors rule, 0.835 with the rule before it). Tuned on, they measure story pair F1 1.00, 1.00 and
0.967, duplicate F1 1.00, thread pair F1 0.708, 1.00 and 1.00. Being dev sets, they say the rule
fits its tuning text, not that it generalises: the fresh sets say that."""
from __future__ import annotations

from pathlib import Path

import pytest

from evaluation import corpus_eval

DATA = Path(__file__).parent / "data"
#: Floors a little below the measured figures (story, thread): a real fall fails, noise does not.
FLOORS = {"stories_dev_fresh1.yaml": (0.95, 0.65), "stories_dev_fresh2.yaml": (0.95, 0.90),
          "stories_dev_fresh4.yaml": (0.93, 0.95)}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_story_grouping_on_the_dev_sets(name: str, tmp_path: Path) -> None:
    got = corpus_eval.score_file(DATA / name, tmp_path)
    story_floor, thread_floor = FLOORS[name]
    assert got["duplicate_pair_f1"] >= 0.95
    assert got["story_pair_f1"] >= story_floor
    assert got["thread_pair_f1"] >= thread_floor
