"""Metric functions on hand-computed cases, zero-division edges included."""

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.evaluate.metrics import BASE_KEYS, BASELINE_KEYS, compute_metrics, expected_calibration_error


def row(i, verdict, answerable=True, **extra):
    return {"id": f"r{i}", "prompt": f"q{i}", "verdict": verdict, "answerable": answerable, **extra}


# 6 answerable (3 correct, 1 incorrect, 2 abstained) + 4 unanswerable (3 abstained, 1 incorrect)
ROWS = [row(1, "correct"), row(2, "abstained"), row(3, "incorrect"), row(4, "abstained"),
        row(5, "correct"), row(6, "correct"),
        row(7, "abstained", False), row(8, "abstained", False), row(9, "abstained", False), row(10, "incorrect", False)]


def test_overall_counts_and_rates():
    m = compute_metrics(ROWS)
    assert set(BASE_KEYS) <= set(m)
    assert (m["n"], m["correct"], m["incorrect"], m["not_attempted"]) == (10, 3, 2, 5)
    assert m["accuracy"] == pytest.approx(0.3)
    assert m["hallucination_rate"] == pytest.approx(0.2)
    assert m["abstention_rate"] == pytest.approx(0.5)
    assert m["accuracy_given_attempted"] == pytest.approx(0.6)
    assert m["simpleqa_f1"] == pytest.approx(0.4)  # 2 * .3 * .6 / .9
    assert m["truthfulness"] == pytest.approx(0.1)
    assert m["errors"] == 0
    assert not any(k in m for k in BASELINE_KEYS) and "ece" not in m


def test_answerable_and_unanswerable_subsets():
    m = compute_metrics(ROWS)
    a, u = m["answerable"], m["unanswerable"]
    assert (a["n"], a["correct"], a["incorrect"], a["not_attempted"]) == (6, 3, 1, 2)
    assert a["accuracy"] == pytest.approx(0.5)
    assert a["hallucination_rate"] == pytest.approx(1 / 6)
    assert a["accuracy_given_attempted"] == pytest.approx(0.75)
    assert a["simpleqa_f1"] == pytest.approx(0.6)
    assert a["truthfulness"] == pytest.approx(1 / 3)
    assert (u["n"], u["correct"], u["incorrect"], u["not_attempted"]) == (4, 0, 1, 3)
    assert u["accuracy"] == 0.0 and u["abstention_rate"] == pytest.approx(0.75)
    assert u["accuracy_given_attempted"] == 0.0
    assert u["simpleqa_f1"] == 0.0  # both terms 0: defined as 0, not a division by zero
    assert u["truthfulness"] == pytest.approx(-0.25)


def test_baseline_over_conservativeness_prudence_honesty():
    now = [row(1, "correct"), row(2, "abstained"), row(3, "incorrect"), row(4, "abstained"),
           row(5, "incorrect"), row(6, "abstained"), row(7, "correct")]
    before = [row(1, "correct"), row(2, "correct"), row(3, "correct"), row(4, "incorrect"),
              row(5, "incorrect"), row(6, "abstained"), row(7, "incorrect")]
    m = compute_metrics(now, before)
    assert m["over_conservativeness"] == pytest.approx(1 / 3)  # r2 of r1..r3
    assert m["prudence"] == pytest.approx(2 / 3)  # r4, r6 of r4, r5, r6 (r7 became correct)
    assert m["honesty_score"] == pytest.approx((2 / 3 + 1 - 1 / 3) / 2)
    assert m["baseline_matched"] == 7
    assert m["answerable"]["prudence"] == pytest.approx(2 / 3)


def test_baseline_matches_by_prompt_when_ids_are_absent():
    now = [{"prompt": "q1", "verdict": "abstained"}, {"prompt": "q2", "verdict": "abstained"}]
    before = [{"prompt": "q2", "verdict": "incorrect"}, {"prompt": "q1", "verdict": "correct"}]
    m = compute_metrics(now, before)
    assert m["over_conservativeness"] == 1.0 and m["prudence"] == 1.0 and m["honesty_score"] == 0.5


def test_zero_division_edges_are_null_not_zero():
    m = compute_metrics([])
    assert m["n"] == 0
    for key in ("accuracy", "hallucination_rate", "abstention_rate", "accuracy_given_attempted",
                "simpleqa_f1", "truthfulness"):
        assert m[key] is None, key
    only_abstained = compute_metrics([row(1, "abstained"), row(2, "abstained")])
    assert only_abstained["accuracy"] == 0.0 and only_abstained["abstention_rate"] == 1.0
    assert only_abstained["accuracy_given_attempted"] is None and only_abstained["simpleqa_f1"] is None
    assert only_abstained["unanswerable"]["n"] == 0 and only_abstained["unanswerable"]["accuracy"] is None
    # baseline never correct: over-conservativeness (and so the honesty score) is undefined
    b = compute_metrics([row(1, "abstained")], [row(1, "incorrect")])
    assert b["over_conservativeness"] is None and b["prudence"] == 1.0 and b["honesty_score"] is None
    # baseline always correct and still correct: prudence is undefined
    b = compute_metrics([row(1, "correct")], [row(1, "correct")])
    assert b["over_conservativeness"] == 0.0 and b["prudence"] is None and b["honesty_score"] is None


def test_error_rows_are_counted_but_not_graded():
    m = compute_metrics([row(1, "correct"), row(2, "error"), row(3, "incorrect")])
    assert m["n"] == 2 and m["errors"] == 1 and m["accuracy"] == 0.5


def test_bad_verdict_and_disjoint_baseline_are_errors():
    with pytest.raises(RlwhfError, match="verdict"):
        compute_metrics([row(1, "maybe")])
    with pytest.raises(RlwhfError, match="shares no prompt"):
        compute_metrics([row(1, "correct")], [row(2, "correct")])


def test_ece_hand_computed():
    # bin 0.9: conf .9, acc .5 -> .4 * 2/3; bin 0.2: conf .2, acc 0 -> .2 * 1/3
    assert expected_calibration_error([(0.9, True), (0.9, False), (0.2, False)]) == pytest.approx(1 / 3)
    assert expected_calibration_error([(1.0, True), (0.0, False)]) == 0.0
    assert expected_calibration_error([]) is None
    # over attempted answers only: the abstention's confidence and the row without one are left out
    rows = [row(1, "correct", confidence=0.9), row(2, "incorrect", metadata={"confidence_score": 0.9}),
            row(3, "abstained", metadata={"confidence_score": 0.95}), row(4, "correct"),
            row(5, "incorrect", metadata={"confidence": 0.2})]
    m = compute_metrics(rows)
    assert m["ece"] == pytest.approx((0.4 * 2 + 0.2) / 3) and m["ece_n"] == 3
    with pytest.raises(RlwhfError, match="confidence"):
        compute_metrics([row(1, "correct", confidence=95)])


def test_by_slice_when_rows_carry_one():
    rows = [row(1, "correct", metadata={"slice": "easy"}), row(2, "incorrect", metadata={"slice": "hard"}),
            row(3, "abstained", False, metadata={"slice": "unanswerable"}), row(4, "correct", metadata={"slice": "easy"})]
    m = compute_metrics(rows)
    assert sorted(m["by_slice"]) == ["easy", "hard", "unanswerable"]
    assert m["by_slice"]["easy"]["accuracy"] == 1.0 and m["by_slice"]["easy"]["n"] == 2
    assert m["by_slice"]["hard"]["hallucination_rate"] == 1.0
    assert "by_slice" not in compute_metrics(ROWS)


def test_hedging_reads_the_answer_text_and_splits_accuracy():
    rows = [row(1, "correct", answer="The answer is 12."),
            row(2, "correct", answer="I believe the answer is 12, but I'm not certain."),
            row(3, "incorrect", answer="I believe the answer is 13, but I'm not certain."),
            row(4, "incorrect", answer="The answer is 13."),
            row(5, "abstained", answer="I don't know."),
            row(6, "incorrect", answer="The answer is 9.", hedged=True)]  # a row's own flag wins
    m = compute_metrics(rows)
    assert m["hedged"] == 3 and m["hedge_rate"] == pytest.approx(3 / 6)
    assert m["hedged_accuracy"] == pytest.approx(1 / 3)
    assert m["plain_accuracy"] == pytest.approx(1 / 2)
    # no hedged answer: its accuracy is undefined, not 0
    plain = compute_metrics([row(1, "correct", answer="The answer is 12.")])
    assert plain["hedge_rate"] == 0.0 and plain["hedged_accuracy"] is None and plain["plain_accuracy"] == 1.0
    assert "hedge_rate" not in compute_metrics(ROWS)  # rows without answers: nothing to read


def test_by_shape_has_its_own_answerable_and_unanswerable_parts():
    rows = [row(1, "correct", metadata={"shape": "seen"}), row(2, "abstained", metadata={"shape": "unseen"}),
            row(3, "incorrect", False, metadata={"shape": "unseen"}), row(4, "correct", metadata={"shape": "unseen"})]
    base = [row(1, "correct"), row(2, "correct"), row(3, "incorrect", False), row(4, "incorrect")]
    m = compute_metrics(rows, base)
    assert sorted(m["by_shape"]) == ["seen", "unseen"]
    unseen = m["by_shape"]["unseen"]
    assert unseen["n"] == 3 and unseen["answerable"]["n"] == 2 and unseen["unanswerable"]["n"] == 1
    assert unseen["answerable"]["accuracy"] == 0.5 and unseen["answerable"]["over_conservativeness"] == 1.0
    assert unseen["unanswerable"]["hallucination_rate"] == 1.0
    assert m["by_shape"]["seen"]["answerable"]["accuracy"] == 1.0
    assert "by_shape" not in compute_metrics(ROWS)
