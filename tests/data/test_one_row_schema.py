"""One alias table for every reader: a row that carries several answer or reference fields is read the
same way by the data stage, reward build, reward score and evaluate (issue 13: four tables disagreed)."""

from __future__ import annotations

import json

import pytest

from rlwhf.config import parse_bool
from rlwhf.data.schema import GRADE_VERDICT, canonicalize, source_names

ROW = {"prompt": "What is 2+2?", "completion": "I don't know.", "student_answer": "The answer is 4.",
       "reference_answer": "4", "solution": "5", "reward": 2}


def test_every_reader_takes_the_same_fields(tmp_path):
    from rlwhf.evaluate.rows import read_rows
    from rlwhf.reward.learned import HonestyReward, _graded_rows
    from rlwhf.reward.rubric import Judge
    from rlwhf.reward.scoring import score_file

    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(ROW) + "\n")
    canonical = canonicalize(ROW)
    assert (canonical["answer"], canonical["reference"]) == ("The answer is 4.", "4")
    built = next(iter(_graded_rows(path)))
    assert (built["answer"], built["reference"]) == ("The answer is 4.", "4")
    evaluated = read_rows(path, need_answer=True)[0]
    assert (evaluated["answer"], evaluated["reference"]) == ("The answer is 4.", "4")
    # reward score: the judge sees the student answer and the reference_answer "4" (so: correct, +2);
    # with the completion or the solution "5" it would grade lower.
    score_file(HonestyReward(Judge(), None), path, tmp_path / "scored.jsonl")
    scored = json.loads((tmp_path / "scored.jsonl").read_text())
    assert scored["grade"] == 2


def test_the_verdict_map_is_shared():
    import rlwhf.evaluate.evaluation
    import rlwhf.evaluate.teachers
    import rlwhf.reward.learned
    import rlwhf.reward.rubric
    from rlwhf.data.schema import verdict_of
    from rlwhf.teacher.prompt import GRADE_VERDICT as teacher_map

    assert teacher_map is GRADE_VERDICT
    # the judge, the reward's per-completion verdicts and every teacher's result go through the schema's
    # rule (no map or rule of their own)
    assert rlwhf.reward.rubric.verdict_of is rlwhf.reward.learned.verdict_of is rlwhf.evaluate.evaluation.verdict_of \
        is verdict_of
    assert not hasattr(rlwhf.reward.rubric, "VERDICTS") and not hasattr(rlwhf.evaluate.teachers, "final_verdict")
    assert source_names("reward") == ("reward", "grade", "score")


@pytest.mark.parametrize("text, value", [("true", True), ("ON", True), (" yes ", True), ("1", True),
                                          ("false", False), ("Off", False), ("no", False), ("0", False)])
def test_one_boolean_reader(text, value):
    from rlwhf.plan.build import parse_override
    from rlwhf.reward.learned import _answerable
    from rlwhf.config import parse_value as coerce

    assert parse_bool(text) is value
    assert parse_override(f"use_vllm={text}", False) == ("use_vllm", value)
    assert coerce(text, bool) is value
    assert _answerable(text) is value


def test_a_bad_boolean_is_named():
    with pytest.raises(ValueError, match="not a boolean: 'maybe'"):
        parse_bool("maybe")
    assert parse_bool("maybe", unknown=None) is None
