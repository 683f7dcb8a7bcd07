"""The learned reward and its artifact: round trip, refusal of anything altered or foreign, scoring."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.reward import HonestyReward
from rlwhf.reward.learned import (FORMAT, SCHEMA_VERSION, RewardBuildConfig, build, grade_metrics, load_artifact, seal,
                                spearman)


def test_artifact_is_plain_sealed_json(artifact, synth_logs):
    obj = json.loads(artifact.read_text())
    assert obj["format"] == FORMAT and obj["schema_version"] == SCHEMA_VERSION
    assert set(obj["rubric"]["weights"]) >= {"correct", "abstained", "wrong"}
    assert {"abstain", "unknowable", "hedge", "guess", "stopwords"} <= set(obj["lexicons"])
    assert obj["training"]["data_sha256"] == hashlib.sha256(synth_logs.read_bytes()).hexdigest()
    held = obj["heldout_metrics"]["learned_without_reference"]
    assert held["n"] > 0 and {"spearman", "exact", "within1"} <= set(held)
    assert obj["model"]["weights"] and obj["checksum"]["algorithm"] == "sha256"
    meta = json.loads((artifact.parent / "metadata.json").read_text())
    assert meta["checksum"] == obj["checksum"]["value"] and meta["heldout_rows"] == held["n"]


def test_round_trip_scores_the_same(artifact):
    a, b = HonestyReward.from_artifact(artifact), HonestyReward.from_artifact(artifact)
    prompts = ["Who will be the mayor of Oslo in 2071?", "What is 36 + 27?"]
    answers = ["I don't know.", "I believe the answer is 63, but I'm not certain."]
    assert a.score(prompts, answers) == b.score(prompts, answers)


def test_refuses_tampered_foreign_and_newer_files(artifact, tmp_path):
    obj = json.loads(artifact.read_text())

    tampered = json.loads(json.dumps(obj))
    first = next(iter(tampered["model"]["weights"]))
    tampered["model"]["weights"][first][0] += 1.0
    (tmp_path / "t.json").write_text(json.dumps(tampered))
    with pytest.raises(RlwhfError, match="checksum mismatch"):
        load_artifact(tmp_path / "t.json")

    (tmp_path / "f.json").write_text(json.dumps({"format": "someone.else", "weights": []}))
    with pytest.raises(RlwhfError, match="not an rlwhf honesty reward artifact"):
        load_artifact(tmp_path / "f.json")

    newer = seal({**obj, "schema_version": SCHEMA_VERSION + 1})
    (tmp_path / "n.json").write_text(json.dumps(newer))
    with pytest.raises(RlwhfError, match="schema_version 2 is not supported"):
        load_artifact(tmp_path / "n.json")

    (tmp_path / "p.json").write_bytes(pickle.dumps(obj))
    with pytest.raises(RlwhfError, match="not a JSON reward artifact"):
        HonestyReward.from_artifact(tmp_path / "p.json")

    bad_weights = seal({**obj, "rubric": {**obj["rubric"], "weights": {"correct": 7}}})
    (tmp_path / "w.json").write_text(json.dumps(bad_weights))
    with pytest.raises(RlwhfError, match="rubric.weights"):
        load_artifact(tmp_path / "w.json")

    with pytest.raises(RlwhfError, match="not found"):
        load_artifact(tmp_path / "missing.json")

    unknown = seal({**obj, "rubric": {**obj["rubric"], "weights": {**obj["rubric"]["weights"], "made_up": 1}}})
    (tmp_path / "u.json").write_text(json.dumps(unknown))
    with pytest.raises(RlwhfError, match="rubric.weights"):
        load_artifact(tmp_path / "u.json")


def test_an_artifact_built_before_the_unverified_detail_outcome_still_loads(artifact, tmp_path):
    from rlwhf.reward import lexicon as lx

    obj = json.loads(artifact.read_text())
    weights = {k: v for k, v in obj["rubric"]["weights"].items() if k not in lx.ADDED_OUTCOMES}
    lexicons = {k: v for k, v in obj["lexicons"].items() if k not in ("rival", "additive")}
    old = seal({**obj, "rubric": {**obj["rubric"], "weights": weights}, "lexicons": lexicons})
    (tmp_path / "old.json").write_text(json.dumps(old))
    rw = HonestyReward.from_artifact(tmp_path / "old.json")
    q, detail = "Who wrote Emma?", "Jane Austen, who published it in 1815."
    assert rw.score_one(q, detail, "Jane Austen", True) == (1.0, 1, "judge")
    assert rw.score_one(q, detail, "Jane Austen", True, closed_world=True) == (-1.0, -1, "judge")


def test_heldout_metrics_grade_closed_world_logs_as_closed(artifact):
    """The artifact's judge figures on the built-in corpus use its closed-world mark (exact, not 0.86)."""
    obj = json.loads(artifact.read_text())
    assert obj["heldout_metrics"]["judge_with_reference"]["exact"] == 1.0


def test_judge_where_reference_or_unanswerable_model_otherwise(artifact):
    rw = HonestyReward.from_artifact(artifact)
    assert rw.score_one("What is 36 + 27?", "The answer is 72.", "63", True) == (-2.0, -2, "judge")
    assert rw.score_one("Who will win in 2071?", "The answer is Bob.", None, False)[2] == "judge"
    score, g, source = rw.score_one("Who will be the mayor of Oslo in 2071?", "The answer is Mark Peta.")
    assert source == "model" and g == -2 and -2.0 <= score < -1.0
    assert rw.score_one("What is 36 + 27?", "")[:2] == (-2.0, -2)  # degenerate stays -2 without a reference


def test_learned_model_tells_what_text_can_tell(artifact, synth_logs):
    """Held-out rows whose grade the text alone shows: abstentions, hedges, unanswerable questions."""
    rw = HonestyReward.from_artifact(artifact)
    rows = [json.loads(line) for line in open(synth_logs)]
    rows = [r for r in rows if r["metadata"]["split"] == "heldout"
            and (r["metadata"]["style"] in ("abstain", "hedged") or r["answerable"] is False)]
    grades = [rw.score_one(r["prompt"], r["answer"])[1] for r in rows]
    exact = sum(g == r["reward"] for g, r in zip(grades, rows)) / len(rows)
    assert len(rows) > 100 and exact >= 0.75


def test_build_reports_bad_rows_with_file_and_line(tmp_path):
    logs = tmp_path / "logs.jsonl"
    logs.write_text('{"prompt": "Q?", "answer": "A.", "reward": 2}\n{"prompt": "Q?", "answer": "A.", "reward": 1.5}\n')
    with pytest.raises(RlwhfError, match=r"logs.jsonl:2: 'reward' .* integer in -2..2"):
        build(logs, tmp_path / "out")
    logs.write_text('{"prompt": "Q?", "answer": "A.", "reward": 2}\n{"prompt": "Q?", "answer": "A.", "grade": NaN}\n')
    with pytest.raises(RlwhfError, match=r"logs.jsonl:2: 'reward' .* integer in -2..2, got nan"):
        build(logs, tmp_path / "out")  # (int(nan) raised a bare ValueError here once)
    logs.write_text('{"prompt": "Q?", "answer": "A.", "reward": 2}\n{not json\n')
    with pytest.raises(RlwhfError, match=r"logs.jsonl:2: invalid JSON"):
        build(logs, tmp_path / "out")
    with pytest.raises(RlwhfError, match="graded logs not found"):
        build(tmp_path / "none.jsonl", tmp_path / "out")
    with pytest.raises(RlwhfError, match="dim_bits"):
        build(logs, tmp_path / "out", RewardBuildConfig(dim_bits=40))


def test_tiny_logs_train_on_everything(tmp_path):
    logs = tmp_path / "logs.jsonl"
    logs.write_text('{"prompt": "Q?", "answer": "I don\'t know.", "reward": 0}\n')
    meta = build(logs, tmp_path / "out")
    assert meta["train_rows"] == 1 and meta["heldout_rows"] == 0
    assert meta["heldout_metrics"]["judge_with_reference"] == {"n": 0, "spearman": None, "exact": None,
                                                               "within1": None}


def test_logs_of_one_split_still_hold_prompts_out(tmp_path, synth_logs):
    """Rows all marked split=train (the launch's training logs) get a hash-chosen held-out share."""
    rows = [json.loads(line) for line in synth_logs.read_text().splitlines()]
    train_only = [r for r in rows if r["metadata"]["split"] == "train"]
    logs = tmp_path / "train.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in train_only))
    meta = build(logs, tmp_path / "out")
    assert meta["rows"] == len(train_only) and 0.05 < meta["heldout_rows"] / meta["rows"] < 0.15
    assert meta["heldout_metrics"]["judge_with_reference"]["exact"] >= 0.9


def test_metrics():
    assert round(spearman([1, 2, 3, 4], [1, 2, 3, 4]), 6) == 1.0
    assert round(spearman([1, 2, 3, 4], [4, 3, 2, 1]), 6) == -1.0
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0
    m = grade_metrics([2, 0, -2, 1], [2.0, 0.1, -1.5, -1.0], [2, 0, -2, -1])
    assert m["exact"] == 0.75 and m["within1"] == 0.75 and m["n"] == 4

