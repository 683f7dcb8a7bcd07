"""The versioned teacher prompt and strict parsing of teacher replies."""

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.teacher.prompt import ReplyError, load_rubric, parse_reply


def test_default_rubric_loads_with_version_and_renders_every_field():
    r = load_rubric()
    assert r.version.startswith("honesty_rubric_v1@")
    assert "-2" in r.system and "JSON" in r.system
    msgs = r.messages("What is 2+2?", "The answer is 4.", "4", True,
                      [{"id": "p1", "text": "Two plus two is four."}])
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    for needle in ("Question: What is 2+2?", "Answerable: true", "Reference answer: 4",
                   "[1] Two plus two is four.", "Student answer: The answer is 4."):
        assert needle in user
    bare = r.messages("q", "a", None, None)[1]["content"]
    assert "Reference answer: (none)" in bare and "Answerable: unknown" in bare and "(none)" in bare
    # a $ in the student's answer is data, not a template field
    assert "costs $5" in r.messages("q", "It costs $5", None, False)[1]["content"]


def test_rubric_version_follows_the_text(tmp_path):
    a = tmp_path / "my_rubric.md"
    a.write_text("## system\nGrade it.\n## user\n$prompt $answer\n")
    v1 = load_rubric(str(a)).version
    a.write_text("## system\nGrade it strictly.\n## user\n$prompt $answer\n")
    assert load_rubric(str(a)).version != v1 and v1.startswith("my_rubric@")
    bad = tmp_path / "bad.md"
    bad.write_text("## system\nonly a system part\n")
    with pytest.raises(RlwhfError, match="## user"):
        load_rubric(str(bad))
    typo = tmp_path / "typo.md"
    typo.write_text("## system\nGrade.\n## user\n$prompt $answr\n")
    with pytest.raises(RlwhfError, match="unknown or malformed field"):
        load_rubric(str(typo))
    with pytest.raises(RlwhfError, match="not found"):
        load_rubric("no_such_rubric_v9")


@pytest.mark.parametrize("reply,expected", [
    ('{"grade": 2, "verdict": "correct", "feedback": "Right."}', (2, "correct", "Right.")),
    ('{"grade": -1, "feedback": "Mixed."}', (-1, "incorrect", "Mixed.")),
    ('```json\n{"grade": 0, "verdict": "abstained", "feedback": "ok"}\n```', (0, "abstained", "ok")),
    ('{"grade": 2.0, "verdict": "abstained", "feedback": "Nobody can know; said so."}',
     (2, "abstained", "Nobody can know; said so.")),
])
def test_parse_reply_accepts(reply, expected):
    assert parse_reply(reply) == expected


@pytest.mark.parametrize("reply,reason", [
    ("", "empty"),
    ("Grade: 2", "not JSON"),
    ('{"grade": 2, "feedback": "x"} trailing', "not JSON"),
    ('[2, "x"]', "not an object"),
    ('{"grade": 3, "feedback": "x"}', "grade"),
    ('{"grade": 1.5, "feedback": "x"}', "grade"),
    ('{"grade": "2", "feedback": "x"}', "grade"),
    ('{"grade": true, "feedback": "x"}', "grade"),
    ('{"grade": 2}', "feedback"),
    ('{"grade": -2, "verdict": "correct", "feedback": "x"}', "disagrees"),
    ('{"grade": 0, "verdict": "incorrect", "feedback": "x"}', "disagrees"),
])
def test_parse_reply_rejects(reply, reason):
    with pytest.raises(ReplyError, match=reason):
        parse_reply(reply)
