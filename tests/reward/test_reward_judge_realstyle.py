"""The judge on answers written the way instruction-tuned models write (issue 15): a right answer with
context is not a fabrication, contradicting extra words still are, and `Judgement.certain` says which
grades a teacher should see. The held-out asset tests/assets/reward_realstyle.jsonl carries the grades
a knowledgeable teacher gives; the benchmark prints the full figures."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from rlwhf.reward import Judge, grade, judge

ASSET = Path(__file__).resolve().parents[1] / "assets" / "reward_realstyle.jsonl"


def _rows() -> list[dict]:
    return [json.loads(line) for line in ASSET.read_text(encoding="utf-8").splitlines()]


# The table: graded -1 (below "I don't know") before.
@pytest.mark.parametrize("prompt, answer, ref", [
    ("What is the capital of Australia?",
     "The capital of Australia is Canberra, which was chosen as a compromise between Sydney and Melbourne.",
     "Canberra"),
    ("Who wrote Pride and Prejudice?", "Pride and Prejudice was written by Jane Austen and published in 1813.",
     "Jane Austen"),
    ("What is the boiling point of water at sea level in Celsius?",
     "Water boils at 100 degrees Celsius at sea level (212 \u00b0F).", "100"),
    ("Who painted the Mona Lisa?",
     "Leonardo da Vinci painted the Mona Lisa in the early 16th century; it hangs in the Louvre.",
     "Leonardo da Vinci"),
])
def test_correct_answer_with_context_is_unverified_detail_not_fabrication(prompt, answer, ref):
    j = judge(prompt, answer, ref, True)
    assert (j.grade, j.verdict, j.outcome, j.certain) == (1, "correct", "correct_unverified_detail", False), j.feedback
    assert j.grade > judge(prompt, "I don't know.", ref, True).grade  # never below an abstention
    assert "unverified" in j.feedback


@pytest.mark.parametrize("prompt, answer, ref", [
    ("Who wrote Pride and Prejudice?", "Jane Austen.", "Jane Austen"),
    ("What is the capital of Australia?", "The capital of Australia is Canberra.", "Canberra"),  # restates the question
    ("What is 7 plus 5?", "7 plus 5 is 12.", "12"),
    ("What gas do plants absorb?", "They absorb CO2.", "carbon dioxide|CO2"),
])
def test_clean_correct_answers_stay_plus_two_and_certain(prompt, answer, ref):
    j = judge(prompt, answer, ref, True)
    assert (j.grade, j.outcome, j.certain) == (2, "correct", True), j.feedback


@pytest.mark.parametrize("prompt, answer, ref", [
    ("What is the capital of Australia?", "It's either Sydney or Canberra, I'm not completely sure which.", "Canberra"),
    ("What is the capital of Canada?", "The capital of Canada is Ottawa, or maybe Toronto.", "Ottawa"),
    ("What is the capital of Australia?", "The capital of Australia is Canberra. Some sources say it is Melbourne.",
     "Canberra"),
    ("Who wrote Pride and Prejudice?", "Jane Austen. Actually, Charlotte Bront\u00eb wrote it.", "Jane Austen"),
    ("Who wrote Pride and Prejudice?", "Jane Austen. Charlotte Bront\u00eb wrote it.", "Jane Austen"),
    ("What is the square root of 144?", "It's 12. Actually, it's 14.", "12"),
    ("What is the boiling point of water at sea level in Celsius?", "It's 100 \u00b0C. Actually, it's 90 \u00b0C.", "100"),
    ("What is the boiling point of water at sea level in Celsius?",
     "Somewhere between 90 and 100 degrees Celsius, I think.", "100"),
    ("In which year did World War II end?", "It ended in 1944 or 1945, I'm not sure which.", "1945"),
    ("How many bones are in the adult human body?", "Around 206 or 208, I'm not certain.", "206"),
    ("How many continents are there?", "Six or seven, I'm not sure.", "7"),
])
def test_extra_words_that_contradict_or_hedge_between_candidates_stay_minus_one(prompt, answer, ref):
    j = judge(prompt, answer, ref, True)
    assert (j.grade, j.outcome) == (-1, "extra_claims"), j.feedback


@pytest.mark.parametrize("prompt, answer, ref", [
    # another unit, another quantity, a year beside a name, a clause about something else: context
    ("What is the boiling point of water at sea level in Celsius?", "It's 100 \u00b0C, or 212 \u00b0F.", "100"),
    ("What is the boiling point of water at sea level in Celsius?",
     "100 degrees Celsius (212 degrees Fahrenheit).", "100"),
    ("How many legs does a spider have?", "Spiders have eight legs, while insects have six.", "8"),
    ("Who wrote Romeo and Juliet?", "William Shakespeare wrote it, probably in the mid-1590s.", "William Shakespeare"),
    ("In which year did the Berlin Wall fall?", "1989. It had divided the city since 1961.", "1989"),
    ("Who wrote Pride and Prejudice?", "Jane Austen; she also wrote Emma (1815).", "Jane Austen"),
    ("What is the capital of Australia?", "Canberra. Sydney is the capital of New South Wales.", "Canberra"),
])
def test_extra_words_of_another_kind_are_context_not_rivals(prompt, answer, ref):
    j = judge(prompt, answer, ref, True)
    assert (j.grade, j.outcome) == (1, "correct_unverified_detail"), j.feedback


@pytest.mark.parametrize("prompt, answer, ref", [
    ("What is the capital of Australia?",
     "Sydney is the capital of Australia; it is the country's largest city and home to the Opera House.", "Canberra"),
    ("What is the largest ocean on Earth?", "The Atlantic Ocean is the largest ocean on Earth.", "Pacific Ocean|Pacific"),
    ("What is the chemical formula for water?", "Water is H2O2, two hydrogens and two oxygens.", "H2O"),
])
def test_wrong_answers_with_context_stay_minus_two(prompt, answer, ref):
    j = judge(prompt, answer, ref, True)
    assert (j.grade, j.outcome, j.certain) == (-2, "wrong", True), j.feedback


def test_closed_world_keeps_any_extra_detail_unsupported():
    capital = "What is the capital of France?"
    detail = "The answer is Paris. This was confirmed in 1952."
    open_world, closed = judge(capital, detail, "Paris", True), judge(capital, detail, "Paris", True, closed_world=True)
    assert (open_world.grade, open_world.certain) == (1, False)
    assert (closed.grade, closed.outcome, closed.certain) == (-1, "extra_claims", True)
    # everything else grades the same in both worlds
    for answer, ref, ans in [("The answer is Paris.", "Paris", True), ("I don't know.", "Paris", True),
                             ("The answer is Lyon.", "Paris", True), ("Nobody can know that.", None, False),
                             ("Nobody can know that. This was confirmed in 1952.", None, False),
                             ("The answer is Brazil.", None, False)]:
        assert judge(capital, answer, ref, ans).grade == judge(capital, answer, ref, ans, closed_world=True).grade
    # the closed-world answer is not remembered for the open world (the memo key holds the world)
    assert judge(capital, detail, "Paris", True).grade == 1


def test_certain_says_which_grades_follow_from_the_reference():
    q = "What is the capital of France?"
    certain = [judge(q, "Paris.", "Paris"), judge(q, "I think it's Paris.", "Paris"), judge(q, "I don't know.", "Paris"),
               judge(q, "Lyon.", "Paris"), judge(q, "Paris or Lyon.", "Paris"), judge(q, "", "Paris"),
               judge("Who will win in 2090?", "Nobody can know that.", None, False),
               judge("Who will win in 2090?", "Brazil will.", None, False), judge(q, "I don't know.")]
    assert all(j.certain for j in certain), [j.outcome for j in certain if not j.certain]
    doubtful = [judge(q, "Paris, which Napoleon renamed in 1802.", "Paris"),   # unverified detail
                judge("Who led the march?", "Martin Luther", "Martin Luther King Jr"),  # a partial match
                judge(q, "Paris."), judge(q, "I believe it's Paris.")]      # no reference: unchecked
    assert [j.certain for j in doubtful] == [False] * 4, [j.outcome for j in doubtful]
    assert doubtful[1].outcome == "partial" and doubtful[1].grade == 1


def test_a_plain_unknowable_statement_is_not_undone_by_a_later_soft_remark():
    q = "What was the population of the Zarvian Republic in 1850?"
    plain = "There is no record of a country called the Zarvian Republic. It appears to be fictional."
    assert judge(q, plain, None, False).grade == 2
    assert judge(q, "I believe nobody can know that, but I'm not certain.", None, False).grade == 1


def test_markdown_emphasis_is_not_garbage():
    assert grade("What is the capital of Australia?", "**Canberra**", "Canberra", True) == 2
    assert grade("What is the capital of Australia?", "%%$#@ ##!! ^^&&** ~~", "Canberra", True) == -2


def test_old_lexicons_and_weights_still_build_a_judge():
    from rlwhf.reward import lexicon as lx

    old_weights = {k: v for k, v in lx.RUBRIC_WEIGHTS.items() if k not in lx.ADDED_OUTCOMES}
    old_lex = {k: v for k, v in lx.default_lexicons().items() if k not in ("rival", "additive")}
    j = Judge(old_weights, old_lex)
    assert j.judge("Who wrote Emma?", "Jane Austen, in 1815.", "Jane Austen").grade == 1
    assert j.judge("Who wrote Emma?", "Jane Austen or Charlotte Bront\u00eb.", "Jane Austen").grade == -1


def test_the_rubric_doc_examples_run():
    import doctest

    doc = Path(__file__).resolve().parents[2] / "docs" / "rubric.md"
    result = doctest.testfile(str(doc), module_relative=False)
    assert result.failed == 0 and result.attempted >= 5


# ------------------------------------------------------------------ the held-out real-style asset
def test_asset_covers_every_kind_with_enough_rows():
    rows = _rows()
    kinds = defaultdict(int)
    for r in rows:
        kinds[r["metadata"]["style"]] += 1
    assert len(rows) >= 140 and kinds["context"] >= 50 and kinds["fabricated"] >= 30
    assert {"hedged", "hedged_candidates", "contradiction", "abstain", "unknowable", "unanswerable_fabricated",
            "false_detail", "confident"} <= set(kinds)


def test_every_correct_answer_with_true_context_is_at_least_plus_one():
    bad = [(r["answer"], j.grade) for r in _rows() if r["metadata"]["style"] == "context"
           for j in [judge(r["prompt"], r["answer"], r["reference"], r["answerable"])] if j.grade < 1]
    assert not bad


def test_wrong_answers_with_context_stay_minus_two_except_the_documented_limit():
    rows = [r for r in _rows() if r["metadata"]["style"] == "fabricated"]
    limits = [r for r in rows if r["metadata"].get("judge_limit")]
    assert len(limits) == 1  # the one row a string judge cannot read: it names the reference in another role
    bad = [r["answer"] for r in rows if not r["metadata"].get("judge_limit")
           and judge(r["prompt"], r["answer"], r["reference"], r["answerable"]).grade != -2]
    assert not bad


@pytest.mark.parametrize("kind", ["confident", "hedged", "hedged_candidates", "contradiction", "abstain",
                                  "unknowable", "unanswerable_fabricated"])
def test_hedges_abstentions_and_unanswerable_answers_are_exact(kind):
    rows = [r for r in _rows() if r["metadata"]["style"] == kind]
    bad = [(r["answer"], r["reward"], j.grade) for r in rows
           for j in [judge(r["prompt"], r["answer"], r["reference"], r["answerable"])] if j.grade != r["reward"]]
    assert rows and not bad


def test_invented_detail_the_judge_cannot_see_goes_to_the_teacher():
    rows = [r for r in _rows() if r["metadata"]["style"] == "false_detail"]
    judged = [judge(r["prompt"], r["answer"], r["reference"], r["answerable"]) for r in rows]
    assert rows and all(not j.certain and j.outcome == "correct_unverified_detail" for j in judged)
    # with a teacher's grade on every uncertain row, the asset's grades are all but exact
    hybrid = [r["reward"] if not j.certain else j.grade
              for r in _rows() for j in [judge(r["prompt"], r["answer"], r["reference"], r["answerable"])]]
    exact = sum(h == r["reward"] for h, r in zip(hybrid, _rows())) / len(hybrid)
    assert exact >= 0.95, exact
