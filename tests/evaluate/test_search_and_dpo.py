"""BM25 search context and DPO-aware deltas / pair export."""

import json

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.evaluate.dpo import dpo_delta, export_pairs
from rlwhf.teacher.search import BM25Index, tokenize

PASSAGES = [
    {"id": "fr", "text": "Paris is the capital and largest city of France."},
    {"id": "de", "text": "Berlin is the capital of Germany. Germany borders France."},
    {"id": "sp", "text": "Spiders have eight legs; insects have six legs."},
]


def test_bm25_ranks_the_matching_passage_first_with_hand_checked_scores():
    idx = BM25Index(PASSAGES)
    hits = idx.search("What is the capital of France?", k=3)
    assert [h["id"] for h in hits] == ["fr", "de"]  # "sp" shares no term: not returned
    assert hits[0]["score"] > hits[1]["score"] > 0
    # one-term query, hand-computed: N=3, df(spiders)=1 -> idf = ln(1 + 2.5/1.5); tf 1; |d| = 6, avg = 17/3
    import math
    idf = math.log(1 + 2.5 / 1.5)
    expected = idf * 1 * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 6 / (17 / 3)))
    assert idx.search("spiders", k=1)[0]["score"] == pytest.approx(expected, abs=1e-4)
    assert idx.search("zebra quantum", k=3) == []
    assert tokenize("The Legs OF spiders") == ["legs", "spiders"]


def test_corpus_errors_name_file_and_line(tmp_path):
    good = tmp_path / "c.jsonl"
    good.write_text("\n".join(json.dumps(p) for p in PASSAGES) + "\n")
    assert len(BM25Index.from_jsonl(good).passages) == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(PASSAGES[0]) + "\n" + json.dumps({"id": "x"}) + "\n")
    with pytest.raises(RlwhfError, match=r"bad.jsonl:2: .*'text'"):
        BM25Index.from_jsonl(bad)
    with pytest.raises(RlwhfError, match="no such file"):
        BM25Index.from_jsonl(tmp_path / "missing.jsonl")


def test_dpo_delta_is_bounded_and_signed():
    assert dpo_delta(-2, 2) == -1.0 and dpo_delta(2, -2) == 1.0 and dpo_delta(1, 1) == 0.0
    assert all(-1 <= dpo_delta(a, b) <= 1 for a in range(-2, 3) for b in range(-2, 3))


def graded(i, grade, preferred_grade, answerable=True):
    return {"id": f"r{i}", "prompt": f"q{i}", "answer": f"student {i}", "grade": grade, "feedback": "f",
            "preferred_answer": f"preferred {i}", "preferred_grade": preferred_grade, "preferred_feedback": "pf",
            "reference": "x", "answerable": answerable, "metadata": {"slice": "easy"}}


def test_export_pairs_orders_chosen_by_grade_and_respects_margin():
    rows = [graded(1, -2, 2), graded(2, 2, 0), graded(3, 1, 1), graded(4, None, 2)]
    scored, swift = export_pairs(rows, min_margin=1)
    assert len(swift) == 2 and len(scored) == 4  # r3 ties, r4 was not graded
    assert swift[0]["messages"] == [{"role": "user", "content": "q1"},
                                    {"role": "assistant", "content": "preferred 1"}]
    assert swift[0]["rejected_response"] == "student 1" and swift[0]["margin"] == 4
    assert swift[1]["messages"][1]["content"] == "student 2" and swift[1]["rejected_response"] == "preferred 2"
    assert {r["id"] for r in scored} == {"r1:student", "r1:preferred", "r2:student", "r2:preferred"}
    assert len(export_pairs(rows, min_margin=3)[1]) == 1  # only r1 (gap 4)


def test_offline_evaluation_carries_the_top_passages_into_each_row():
    from pathlib import Path

    from rlwhf.cli.main import main

    corpus = Path(__file__).resolve().parents[1] / "assets" / "evaluate_passages.jsonl"
    Path("a.jsonl").write_text(
        json.dumps({"prompt": "Which city is the capital of New Zealand?", "answer": "The answer is Wellington.",
                    "reference": "Wellington", "answerable": True}) + "\n"
        + json.dumps({"prompt": "How many legs does a spider have?", "answer": "I don't know.",
                      "reference": "8", "answerable": True}) + "\n")
    assert main(["evaluate", "--answers", "a.jsonl", "--output-dir", "o", "--search-corpus", str(corpus),
                 "--search-top-k", "2"]) == 0
    rows = [json.loads(line) for line in Path("o/answers.jsonl").read_text().splitlines()]
    assert [p["id"] for p in rows[0]["context"]][0] == "geo-nz" and len(rows[0]["context"]) == 2
    assert rows[1]["context"][0]["id"] == "bio-spider"
    assert rows[0]["verdict"] == "correct" and rows[1]["verdict"] == "abstained"
