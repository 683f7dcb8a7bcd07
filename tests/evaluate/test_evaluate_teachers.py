"""The teacher interface: the offline judge's plumbing, odd rows kept and marked, the registry."""

import json
from pathlib import Path

from rlwhf.cli.main import main
from rlwhf.evaluate.teachers import OfflineTeacher
from rlwhf.teacher.base import GradeRequest


def test_offline_teacher_passes_reference_and_answerable_and_reports_each_row(fake_judge):
    seen = []
    teacher = OfflineTeacher(judge=fake_judge)
    reqs = [GradeRequest("What is 2 + 2?", "It is 4.", "4", True), GradeRequest("Who wins in 2090?", "I don't know.", None, False),
            GradeRequest("Who wins in 2090?", "Team 4.", "4", False)]
    res = teacher.grade_many(reqs, on_result=lambda i, r: seen.append(i))
    assert [(r.grade, r.verdict) for r in res] == [(2, "correct"), (0, "abstained"), (-2, "incorrect")]
    assert seen == [0, 1, 2] and teacher.describe()["graded"] == 3


def test_offline_teacher_judges_closed_world_requests_in_a_closed_world(fake_judge):
    detail = "The answer is Paris. This was confirmed in 1952."
    reqs = [GradeRequest("What is the capital of France?", detail, "Paris", True),
            GradeRequest("What is the capital of France?", detail, "Paris", True, closed_world=True)]
    assert [r.grade for r in OfflineTeacher().grade_many(reqs)] == [1, -1]
    # a judge with the older signature still serves open-world requests
    assert OfflineTeacher(judge=fake_judge).grade_many(reqs[:1])[0].status == "graded"


def test_a_judge_failure_or_off_rubric_grade_becomes_an_error_row(fake_judge):
    def flaky_judge(prompt, completion, reference=None, answerable=None):
        if completion == "boom":
            raise ValueError("cannot parse")
        j = fake_judge(prompt, completion, reference, answerable)
        return j._replace(grade=5) if completion == "five" else j

    res = OfflineTeacher(judge=flaky_judge).grade_many(
        [GradeRequest("q", "boom"), GradeRequest("q", "five", "five"), GradeRequest("q", "I don't know.")])
    assert [r.status for r in res] == ["error", "error", "graded"]
    assert "cannot parse" in res[0].error and "-2..2" in res[1].error
    assert res[0].verdict == "error" and res[0].grade is None


def test_teacher_by_dotted_path_and_unknown_module(capsys):
    Path("a.jsonl").write_text(json.dumps({"prompt": "What is 2 + 2?", "answer": "4", "reference": "4"}) + "\n")
    assert main(["evaluate", "--answers", "a.jsonl", "--output-dir", "o",
                 "--teacher", "rlwhf.evaluate.teachers:OfflineTeacher"]) == 0
    assert json.loads(Path("o/metrics.json").read_text())["teacher"]["name"] == "offline"
    assert main(["evaluate", "--answers", "a.jsonl", "--output-dir", "o", "--teacher", "no_such_mod:T"]) == 2
    assert "cannot import" in capsys.readouterr().err
