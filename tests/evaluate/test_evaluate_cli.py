"""`rlwhf evaluate` end to end: the tiny policy on held-out synth prompts, the offline teacher against
synth labels, baselines, --compare, DPO export, and errors for people."""

import json
from collections import defaultdict
from pathlib import Path

import pytest

from rlwhf.cli.main import main
from rlwhf.evaluate.metrics import BASE_KEYS, BASELINE_KEYS

ROW_KEYS = {"id", "prompt", "reference", "answerable", "answer", "grade", "verdict", "feedback"}


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_jsonl(path, rows):
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def heldout_prompts(tmp_path_factory):
    from rlwhf.data.synth import prompts

    rows = [r for r in prompts("heldout") if r["metadata"]["shape"] == "seen"]
    answerable = [r for r in rows if r["answerable"]][:24]
    unanswerable = [r for r in rows if not r["answerable"]][:16]
    return write_jsonl(tmp_path_factory.mktemp("prompts") / "heldout.jsonl", answerable + unanswerable)


@pytest.mark.slow
def test_evaluate_tiny_policy_writes_answers_and_every_metric(tiny_model_dir, heldout_prompts, capsys):
    assert main(["evaluate", "--model", str(tiny_model_dir), "--prompts", str(heldout_prompts),
                 "--output-dir", "before", "--batch-size", "16", "--max-new-tokens", "8"]) == 0
    rows = read_jsonl("before/answers.jsonl")
    assert len(rows) == 40
    for r in rows:
        assert ROW_KEYS <= set(r)
        assert r["grade"] in (-2, -1, 0, 1, 2) and r["verdict"] in ("correct", "incorrect", "abstained")
        assert isinstance(r["answer"], str) and isinstance(r["feedback"], str)
    m = json.loads(Path("before/metrics.json").read_text())
    assert set(BASE_KEYS) <= set(m) and m["n"] == 40
    assert m["answerable"]["n"] == 24 and m["unanswerable"]["n"] == 16
    assert set(BASE_KEYS) <= set(m["answerable"]) and set(BASE_KEYS) <= set(m["unanswerable"])
    assert set(m["by_slice"]) <= {"easy", "hard", "unanswerable"} and m["by_slice"]["unanswerable"]["n"] == 16
    assert m["unanswerable"]["correct"] == 0  # nothing is "correct" on an unanswerable question
    assert m["timings"]["generation"]["prompts"] == 40
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["metrics"].endswith("metrics.json")

    # The same prompts again, against the first run as baseline.
    assert main(["evaluate", "--model", str(tiny_model_dir), "--prompts", str(heldout_prompts),
                 "--output-dir", "after", "--baseline", "before/answers.jsonl", "--batch-size", "40",
                 "--max-new-tokens", "8"]) == 0
    after = json.loads(Path("after/metrics.json").read_text())
    assert set(BASELINE_KEYS) <= set(after) and after["baseline_matched"] == 40
    # Greedy and the same policy: identical answers, so nothing newly abstains.
    assert [r["answer"] for r in read_jsonl("after/answers.jsonl")] == [r["answer"] for r in rows]
    assert after["accuracy"] == m["accuracy"]
    capsys.readouterr()
    assert main(["evaluate", "--compare", "before/metrics.json", "after/metrics.json"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| metric | before | after |")
    assert "| accuracy |" in table and "| unanswerable.abstention_rate |" in table
    assert "| prudence | - |" in table  # only `after` has a baseline
    # A launch report.json holds both; same-named columns get numbered.
    Path("run").mkdir()
    Path("run/report.json").write_text(json.dumps({"before": m, "after": after}))
    assert main(["evaluate", "--compare", "run/report.json"]) == 0
    assert capsys.readouterr().out.startswith("| metric | run:before | run:after |")
    assert main(["evaluate", "--compare", "before/metrics.json", "before/metrics.json"]) == 0
    assert capsys.readouterr().out.startswith("| metric | 1:before | 2:before |")


def test_offline_teacher_agrees_with_synth_labels(capsys):
    assert main(["data", "synth", "--output", "synth.jsonl", "--split", "heldout"]) == 0
    assert main(["evaluate", "--answers", "synth.jsonl", "--output-dir", "graded"]) == 0
    rows = read_jsonl("graded/answers.jsonl")
    assert len(rows) == len(read_jsonl("synth.jsonl")) > 500
    agree = sum(r["grade"] == r["reward"] for r in rows) / len(rows)
    by_style = defaultdict(list)
    for r in rows:
        by_style[r["metadata"]["style"]].append(r["grade"] == r["reward"])
    print(f"offline teacher vs synth labels: {agree:.4f} of {len(rows)} held-out rows agree exactly")
    assert agree >= 0.95, {k: sum(v) / len(v) for k, v in by_style.items()}
    assert all(by_style["extra_detail"])  # the corpus's closed-world mark reached the judge: invented detail is -1
    m = json.loads(Path("graded/metrics.json").read_text())
    assert m["errors"] == 0 and m["n"] == len(rows)
    assert m["ece"] is not None and 0 <= m["ece"] <= 1  # synth answers state a confidence


def test_dpo_reward_deltas_and_pairs_accepted_by_data_pairs():
    from rlwhf.data.schema import validate
    from rlwhf.data.synth import iter_synth

    by_prompt = defaultdict(dict)
    for r in iter_synth(split="heldout"):
        by_prompt[r["prompt"]][r["metadata"]["style"]] = r
    rows = []
    for prompt, styles in list(by_prompt.items())[:30]:
        rows.append({"prompt": prompt, "reference": styles["confident"]["reference"],
                     "answerable": styles["confident"]["answerable"],
                     "answer": styles["fabricated"]["answer"], "chosen": styles["confident"]["answer"]})
    rows.append({"prompt": "What is 1 + 1?", "reference": "2", "answerable": True, "answer": "The answer is 2."})
    write_jsonl("dpo_in.jsonl", rows)
    assert main(["evaluate", "--answers", "dpo_in.jsonl", "--output-dir", "out", "--enable-dpo-reward"]) == 0
    graded = read_jsonl("out/answers.jsonl")
    assert all(r["dpo_delta"] == -1.0 for r in graded[:30])  # fabricated (-2) vs confident and right (+2)
    assert "dpo_delta" not in graded[30] and "preferred_grade" not in graded[30]
    m = json.loads(Path("out/metrics.json").read_text())
    assert m["dpo"] == {"rows_with_preferred": 30, "graded_pairs": 30, "mean_delta": -1.0,
                        "exported_pairs": 30, "min_margin": 1}
    assert m["n"] == 31  # preferred answers are graded for the delta, not counted as the student's
    scored = read_jsonl("out/dpo_scored.jsonl")
    assert len(scored) == 60 and all(validate(r) is None for r in scored)
    swift = read_jsonl("out/dpo_pairs.jsonl")
    assert all(p["messages"][-1]["content"] == rows[i]["chosen"] for i, p in enumerate(swift))
    # The data stage's own pairing of the scored rows gives the same pairs.
    assert main(["data", "pairs", "--input", "out/dpo_scored.jsonl", "--output", "pairs.jsonl"]) == 0
    theirs = read_jsonl("pairs.jsonl")
    assert [(p["chosen"], p["rejected"]) for p in theirs] == [(p["chosen"], p["rejected"]) for p in swift]


@pytest.mark.parametrize("argv,message", [
    (["--answers", "a.jsonl", "--model", "m", "--prompts", "p.jsonl", "--output-dir", "o"], "not both"),
    (["--prompts", "p.jsonl", "--output-dir", "o"], "give --model DIR (or --student-base-url"),
    (["--answers", "a.jsonl"], "--output-dir is required"),
    (["--answers", "missing.jsonl", "--output-dir", "o"], "missing.jsonl: no such file"),
    (["--answers", "a.jsonl", "--output-dir", "o", "--concurrency", "0"], "--concurrency must be at least 1"),
    (["--answers", "a.jsonl", "--output-dir", "o", "--request-extra", "[1]"], "JSON object"),
    (["--answers", "a.jsonl", "--output-dir", "o", "--teacher", "nope"], "unknown"),
    (["--answers", "a.jsonl", "--output-dir", "o", "--baseline", "a.jsonl"], "a.jsonl:1: a baseline row needs a verdict"),
    (["--compare", "m.json"], "at least two"),
    (["--compare", "a.jsonl", "a.jsonl"], "a.jsonl: not a metrics.json"),
    (["--compare", "nothere.json", "a.jsonl"], "nothere.json: cannot read"),
])
def test_usage_errors_exit_2_without_traceback(argv, message, capsys):
    write_jsonl("a.jsonl", [{"prompt": "q", "answer": "a"}])
    Path("m.json").write_text('{"n": 0}')
    assert main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("line,message", [
    ("{not json", "bad.jsonl:2: invalid JSON"),
    ('{"answer": "x"}', "bad.jsonl:2: 'prompt' must be a non-empty string"),
    ('["q", "a"]', "bad.jsonl:2: a row must be a JSON object"),
    ('{"prompt": "q"}', "bad.jsonl:2: an answer row needs a string 'answer'"),
    ('{"prompt": "q", "answer": "a", "answerable": "yes"}', "bad.jsonl:2: 'answerable' must be true, false or null"),
    ('{"prompt": "q", "answer": "a", "reference": 4}', "bad.jsonl:2: 'reference' must be a string or null"),
])
def test_bad_rows_name_file_line_and_rule(line, message, capsys):
    Path("bad.jsonl").write_text(json.dumps({"prompt": "ok", "answer": "a"}) + "\n" + line + "\n")
    assert main(["evaluate", "--answers", "bad.jsonl", "--output-dir", "o"]) == 2
    assert message in capsys.readouterr().err
    assert not Path("o/answers.jsonl").exists()


def test_answer_aliases_limit_and_ids(capsys):
    write_jsonl("in.jsonl", [{"prompt": "What is 2 + 2?", "completion": "The answer is 4.", "solution": "4",
                              "answerable": True},
                             {"id": 7, "prompt": "Who wins the 2090 cup?", "response": "I don't know.",
                              "answerable": False},
                             {"prompt": "third", "answer": "x"}])
    assert main(["evaluate", "--answers", "in.jsonl", "--output-dir", "o", "--limit", "2"]) == 0
    rows = read_jsonl("o/answers.jsonl")
    assert len(rows) == 2 and rows[0]["answer"] == "The answer is 4." and rows[0]["reference"] == "4"
    assert rows[0]["verdict"] == "correct" and rows[1]["verdict"] == "abstained"
    assert rows[1]["id"] == "7" and len(rows[0]["id"]) == 16
    # Regrading an answers.jsonl starts afresh: no stale grades or deltas survive.
    stale = {**rows[0], "verdict": "incorrect", "grade": -2, "dpo_delta": -1.0, "preferred_grade": 2}
    write_jsonl("again.jsonl", [stale])
    assert main(["evaluate", "--answers", "again.jsonl", "--output-dir", "o2"]) == 0
    regraded = read_jsonl("o2/answers.jsonl")[0]
    assert regraded["verdict"] == "correct" and "dpo_delta" not in regraded and "preferred_grade" not in regraded
