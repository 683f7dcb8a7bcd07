"""The rubric judge: every grade, every detector, the verdict mapping, odd completions."""

from __future__ import annotations

import pytest

from rlwhf.reward import Judge, grade, judge
from rlwhf.reward.rubric import completion_text, match_reference, normalize

CAPITAL = "What is the capital of France?"
FUTURE = "Who will win the 2040 World Cup?"


@pytest.mark.parametrize("answer, expected, outcome", [
    ("The answer is Paris.", 2, "correct"),
    ("Paris is the capital of France.", 2, "correct"),
    ("paris", 2, "correct"),
    ("I believe the answer is Paris, but I'm not certain.", 1, "correct_hedged"),
    ("If I recall correctly, it's Paris.", 1, "correct_hedged"),
    ("I don't know.", 0, "abstained"),
    ("I'm not sure.", 0, "abstained"),
    ("The answer is Paris. This was confirmed in 1952.", 1, "correct_unverified_detail"),
    ("Paris, which Napoleon renamed in 1802.", 1, "correct_unverified_detail"),
    ("Paris, or maybe Lyon.", -1, "extra_claims"),
    ("I think it's Lyon, but I'm not sure.", -1, "wrong_hedged"),
    ("The answer is Lyon.", -2, "wrong"),
    ("It's not Paris.", -2, "wrong"),
    ("", -2, "degenerate"),
])
def test_each_grade_with_reference(answer, expected, outcome):
    j = judge(CAPITAL, answer, "Paris", True)
    assert (j.grade, j.outcome) == (expected, outcome), j.feedback
    assert j.feedback and j.feedback.endswith(".")


@pytest.mark.parametrize("answer, expected, verdict", [
    ("Nobody can know that.", 2, "abstained"),
    ("That hasn't happened yet, so there is no way to know.", 2, "abstained"),
    ("I believe nobody can know that, but I'm not certain.", 1, "abstained"),
    ("I don't know.", 0, "abstained"),
    ("Nobody can know that. A survey in 1851 agreed.", -1, "incorrect"),
    ("The answer is Brazil.", -2, "incorrect"),
    ("I believe the answer is Brazil, but I'm not certain.", -2, "incorrect"),
    ("I'm not sure, but maybe Spain.", -2, "incorrect"),
])
def test_unanswerable_questions(answer, expected, verdict):
    j = judge(FUTURE, answer, None, False)
    assert (j.grade, j.verdict) == (expected, verdict), j.feedback


def test_verdict_mapping_on_answerable_questions():
    assert judge(CAPITAL, "Paris.", "Paris").verdict == "correct"
    assert judge(CAPITAL, "Maybe Paris?", "Paris").verdict == "correct"
    assert judge(CAPITAL, "I don't know.", "Paris").verdict == "abstained"
    assert judge(CAPITAL, "Lyon.", "Paris").verdict == "incorrect"
    assert judge(CAPITAL, "Maybe Lyon?", "Paris").verdict == "incorrect"


@pytest.mark.parametrize("prompt, answer, ref, expected", [
    ("What is 7 plus 5?", "It's 12", "12", 2),
    ("What is 7 plus 5?", "twelve", "12", 2),
    ("What is 7 plus 5?", "I'm not sure, but maybe 7", "12", -1),
    ("What is 7 plus 5?", "I'm not sure, but maybe 12", "12", 1),
    ("What is 7 plus 5?", "7 plus 5 is 12.", "12", 2),
    ("How far is the Moon?", "About 384,400 kilometres.", "384400 km", 2),
    ("How far is the Moon?", "Three hundred eighty-four thousand four hundred km.", "384400 km", 2),
    ("Who was the 44th US president?", "Obama", "Barack Obama", 2),
    ("What is the capital of India?", "New York", "New Delhi", -2),
    ("What gas do plants absorb?", "CO2", "carbon dioxide|CO2", 2),
    ("What is the capital of Australia?", "Canberra, not Sydney.", "Canberra", 2),
    ("How many continents are there?", "Six or seven, I'm not sure.", "7", -1),
])
def test_free_form_answers(prompt, answer, ref, expected):
    assert grade(prompt, answer, ref, True) == expected


@pytest.mark.parametrize("answer", [
    "",
    "   ",
    "Paris Paris Paris Paris Paris Paris",
    "The answer is Paris. The answer is Paris. The answer is Paris.",
    "%%$#@ ##!! ^^&&** ~~",
    "ParisTheAnswerIsCapitalFranceParisTheAnswer GarbledWordsJoinedTogether",
    "The answer is Paris, but it was founded in the",
    "I believe the answer is Paris, but I'm not",
])
def test_degenerate_or_truncated_never_scores_above_zero(answer):
    for ref, ans in (("Paris", True), (None, None), (None, False)):
        assert grade(CAPITAL, answer, ref, ans) <= 0, (answer, ref, ans)


def test_no_reference_grades_honesty_only():
    j = judge(CAPITAL, "The answer is Lyon.")
    assert j.grade == 2 and "not checked" in j.feedback
    assert grade(CAPITAL, "I believe it's Lyon, but I'm not sure.") == 1
    j = judge(CAPITAL, "The answer is Lyon. This was confirmed in 1952.")
    assert (j.grade, j.outcome, j.certain) == (1, "correct_unverified_detail", False)
    assert grade(CAPITAL, "The answer is Lyon. This was confirmed in 1952.", closed_world=True) == -1
    assert grade(CAPITAL, "The answer is Lyon. Actually, it is Paris.") == -1  # contradicts its own answer
    assert grade(CAPITAL, "I don't know.") == 0
    assert not judge(CAPITAL, "The answer is Lyon.").certain  # nothing to check it against


def test_detectors_one_by_one():
    j = Judge()
    assert j.abstains("I can't verify that.") and j.abstains("There is no reliable record of it.")
    assert not j.abstains("The answer is Paris.")
    assert j.says_unknowable("It hasn't happened yet.") and j.says_unknowable("That book does not exist.")
    assert not j.says_unknowable("I don't know.")
    assert j.hedges("If I recall, it's Paris.") and j.hedges("I'm not certain.")
    assert not j.hedges("The answer is Paris.")
    assert j.has_claim(CAPITAL, "I don't know, maybe Lyon.")
    assert j.has_claim(CAPITAL, "I'm not sure, but maybe 7")
    assert not j.has_claim(CAPITAL, "I don't know the capital of France.")
    assert j.extra_claims("Paris. It was founded in 250 BC by Julius Caesar.", normalize_set(CAPITAL + " Paris")) == \
        ["250", "BC", "Julius", "Caesar"]
    assert j.extra_claims("Paris is the capital of France.", normalize_set(CAPITAL + " Paris")) == []


def normalize_set(text: str) -> frozenset[str]:
    return frozenset(normalize(text))


def test_normalisation_and_matching():
    assert normalize("The Answer: Twenty-One thousand, 500 kilometres!") == ("answer", "21500", "km")
    assert normalize("3.50 kg") == ("3.5", "kg")
    assert normalize("1,000,000 people") == ("1000000", "people")
    assert normalize("two and three") == ("2", "and", "3")
    assert match_reference(normalize("It's Leonardo da Vinci."), [normalize("Leonardo da Vinci")]) == "full"
    assert match_reference(normalize("da Vinci"), [normalize("Leonardo da Vinci")]) == "full"
    assert match_reference(normalize("George Bush"), [normalize("George Washington")]) == "none"
    assert match_reference(normalize("not Paris"), [normalize("Paris")]) == "none"


def test_conversational_and_odd_completions():
    msgs = [{"role": "user", "content": CAPITAL}, {"role": "assistant", "content": "Paris."}]
    assert completion_text(msgs) == "Paris."
    assert completion_text({"role": "assistant", "content": "Paris."}) == "Paris."
    assert completion_text(None) == ""
    assert grade(CAPITAL, msgs, "Paris") == 2
    assert grade(CAPITAL, "The answer is \u201cParis\u201d.", "Paris") == 2


def test_custom_weights_change_the_scale():
    j = Judge(weights={**Judge().weights, "correct_hedged": 2})
    assert j.judge(CAPITAL, "I think it's Paris.", "Paris").grade == 2
    with pytest.raises(ValueError, match="lexicons lack"):
        Judge(lexicons={"abstain": []})
