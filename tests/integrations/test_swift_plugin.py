"""The ms-swift ORM plugin, loaded the way ms-swift loads it, and in a real tiny `swift rlhf` GRPO run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _swift_grpo import QUESTIONS, rewards_checked_against_the_judge, run_swift_grpo

from rlwhf.reward import judge, plugin_path

pytest.importorskip("swift", reason="needs the swift extra: pip install -r requirements.txt")


def _load_orm_class():
    """Exactly ms-swift's path: `--external_plugins FILE` -> import_external_file, then orms[name]."""
    from swift.rewards import orms
    from swift.utils.utils import import_external_file

    import_external_file(plugin_path())
    return orms["rlwhf_honesty"]


def test_registered_and_called_with_real_kwargs(monkeypatch):
    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    orm = _load_orm_class()(args=None)
    completions = ["The answer is Paris.", "Nobody can know that.", "I believe it's 12, but I'm not sure.",
                   "Your neighbour had eggs.", "The answer is Paris. It was founded in 250 BC.", "The answer is"]
    questions = QUESTIONS + [QUESTIONS[0], QUESTIONS[0]]
    kwargs = {  # what score_completions passes: rows_to_batched(to_reward_row()) + trainer_state
        "messages": [[{"role": "user", "content": q}, {"role": "assistant", "content": c}]
                     for (q, _, _), c in zip(questions, completions)],
        "solution": [s for _, s, _ in questions],
        "answerable": [a for _, _, a in questions],
        "is_truncated": [False, False, False, False, False, True],
        "prompt_id": [str(i) for i in range(6)], "request_id": [None] * 6, "trainer_state": object(),
    }
    # the fifth: a right answer with detail the reference cannot check is unverified context (+1) ...
    assert orm(completions, **kwargs) == [2.0, 2.0, 1.0, -2.0, 1.0, -2.0]
    # ... and unsupported (-1) in a closed world (the built-in corpus's `closed_world` column)
    assert orm(completions, closed_world=[True] * 6, **kwargs) == [2.0, 2.0, 1.0, -2.0, -1.0, -2.0]
    # a correct answer cut off by the length limit is capped at 0
    kwargs["is_truncated"] = [True] + [False] * 5
    assert orm(completions, **kwargs)[0] == 0.0


def test_closed_world_column_travels_ms_swifts_own_reward_path(tmp_path, monkeypatch):
    """Rows from `rlwhf data preprocess --format swift-grpo` go through ms-swift's sample and reward
    code (GRPOSample.from_row -> compute_rewards_per_func): the built-in corpus's rows arrive marked
    closed-world, other logs' rows open."""
    import torch
    from swift.rl_core.data import GRPOSample
    from swift.rl_core.grpo_algorithm import compute_rewards_per_func

    from rlwhf.cli.main import main

    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["data", "synth", "--output", "synth.jsonl", "--split", "train", "--n", "5"]) == 0
    synth = json.loads(Path("synth.jsonl").read_text().splitlines()[0])
    open_row = {"prompt": "What is the capital of Peru?", "answer": "Lima.", "reward": 2, "reference": "Lima"}
    Path("logs.jsonl").write_text(json.dumps(synth) + "\n" + json.dumps(open_row) + "\n")
    assert main(["data", "preprocess", "--input", "logs.jsonl", "--output", "grpo.jsonl", "--format", "swift-grpo"]) == 0
    rows = [json.loads(line) for line in Path("grpo.jsonl").read_text().splitlines()]
    assert [r["closed_world"] for r in rows] == [True, False]
    assert rows[0]["reference"] and rows[1]["reference"] == "Lima"  # the corpus's first row is answerable
    # a right answer plus an invented year, as the extra_detail style writes it
    answers = [f"The answer is {row['reference']}. This was confirmed in 1952." for row in rows]
    samples = [GRPOSample.from_row({**row, "messages": row["messages"] + [{"role": "assistant", "content": a}]})
               for row, a in zip(rows, answers)]
    orm = _load_orm_class()(args=None)
    rewards = compute_rewards_per_func(samples, [orm], None, torch.device("cpu")).squeeze(1).tolist()
    expected = [judge(r["messages"][0]["content"], a, r["reference"], r["answerable"], r["closed_world"]).grade
                for r, a in zip(rows, answers)]
    assert rewards == expected == [-1.0, 1.0]


def test_reference_column_and_artifact_from_env(monkeypatch, tmp_path):
    from rlwhf.reward.learned import build

    logs = tmp_path / "logs.jsonl"
    rows = [{"prompt": f"Who will rule Mars in {y}?", "answer": a, "reward": g}
            for y in range(2050, 2090) for a, g in (("I don't know.", 0), ("The answer is Zed Ko.", -2))]
    logs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    build(logs, tmp_path / "rm")
    monkeypatch.setenv("RLWHF_REWARD_ARTIFACT", str(tmp_path / "rm" / "honesty_reward_model.json"))
    orm = _load_orm_class()(args=None)
    assert orm.reward.model is not None
    msgs = [[{"role": "user", "content": "Who will rule Mars in 2101?"}]] * 2
    scores = orm(["I don't know.", "The answer is Bo Ri."], messages=msgs, reference=[None, None])
    assert scores[0] > scores[1]  # no reference: the learned model grades
    assert orm(["Paris."], messages=[[{"role": "user", "content": "Capital of France?"}]],
               reference=["Paris"]) == [2.0]


@pytest.mark.slow
def test_real_swift_grpo_run_logs_the_reward(tiny_model_dir, tmp_path):
    out = run_swift_grpo(tiny_model_dir, tmp_path, "rlwhf_honesty", 2, {}, "--add_version", "false")
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines() if line.strip()]
    steps = [row for row in logs if "rewards/RlwhfHonesty/mean" in row]
    assert len(steps) == 2 and all(-2.0 <= row["reward"] <= 2.0 for row in steps)
    # Every logged reward is what our judge gives that completion for that question.
    assert rewards_checked_against_the_judge(out / "completions.jsonl", "RlwhfHonesty") >= 4


def test_plugin_file_is_what_the_cli_prints():
    out = subprocess.run([sys.executable, "-m", "rlwhf", "reward", "plugin-path"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert Path(out) == Path(plugin_path()) and Path(out).is_file()
