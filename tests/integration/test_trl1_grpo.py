"""TRL 1.x (`pip install "rlwhf[trl]"`, without ms-swift): the honesty reward inside a real GRPOTrainer,
logging its verdicts and abstention rate through the `log_extra` / `log_metric` callables TRL 1.x passes,
and `rlwhf train --backend trl`. CI runs this file in its second environment (.ci/run), where TRL 1.x is
installed; in the ms-swift environment (TRL 0.29) the TRL 1.x tests are skipped, the call-level one runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rlwhf.integrations.trl import honesty_reward

QUESTIONS = [
    ("What is the capital of France?", "Paris", True),
    ("Who will win the 2040 World Cup?", None, False),
    ("What is 7 plus 5?", "12", True),
    ("What did my neighbour eat today?", None, False),
]


def _trl1():
    trl = pytest.importorskip("trl")
    if int(trl.__version__.split(".")[0]) < 1:
        pytest.skip(f"TRL {trl.__version__}: these run in the TRL 1.x environment (.ci/run, second step)")
    return trl


def test_verdicts_and_rates_go_to_the_callables_trl_passes(monkeypatch):
    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    extra, metrics = {}, {}
    out = honesty_reward(["The answer is Paris.", "I don't know.", "Maybe 11?", "Nobody can know that."],
                         prompts=[q for q, _, _ in QUESTIONS], solution=[s for _, s, _ in QUESTIONS],
                         answerable=[a for _, _, a in QUESTIONS],
                         log_extra=lambda col, values: extra.setdefault(col, []).extend(values),
                         log_metric=lambda name, value: metrics.setdefault(name, []).append(value))
    assert out == [2.0, 0.0, -1.0, 2.0]
    assert extra == {"honesty_grade": [2, 0, -1, 2],
                     "honesty_verdict": ["correct", "abstained", "incorrect", "abstained"]}
    assert metrics == {"honesty/abstention_rate": [0.5], "honesty/correct_rate": [0.25],
                       "honesty/incorrect_rate": [0.25]}
    # without the callables (ms-swift, TRL 0.x) the scores are the same
    assert honesty_reward(["The answer is Paris."], prompts=["What is the capital of France?"],
                          solution=["Paris"]) == [2.0]


@pytest.mark.slow
def test_real_trl1_grpo_trainer_logs_honesty_metrics(tiny_model_dir, tmp_path, monkeypatch):
    _trl1()
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    ds = Dataset.from_dict({"prompt": [[{"role": "user", "content": q}] for q, _, _ in QUESTIONS],
                           "solution": [s for _, s, _ in QUESTIONS], "answerable": [a for _, _, a in QUESTIONS]})
    cfg = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=2,
                     max_completion_length=8, max_steps=2, use_cpu=True, report_to="none", logging_steps=1,
                     bf16=False, save_strategy="no", log_completions=True)
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), reward_funcs=[honesty_reward],
                          args=cfg, train_dataset=ds, processing_class=AutoTokenizer.from_pretrained(tiny_model_dir))
    trainer.train()
    logged = [h for h in trainer.state.log_history if "rewards/honesty_reward/mean" in h]
    assert len(logged) == 2
    for h in logged:
        rates = [h["honesty/abstention_rate"], h["honesty/correct_rate"], h["honesty/incorrect_rate"]]
        assert all(0.0 <= r <= 1.0 for r in rates) and sum(rates) == pytest.approx(1.0)
    table = trainer._logs["extra"]
    assert set(table) == {"honesty_grade", "honesty_verdict"}
    assert set(table["honesty_verdict"]) <= {"correct", "incorrect", "abstained"}
    assert all(-2 <= g <= 2 for g in table["honesty_grade"])


@pytest.mark.slow
def test_rlwhf_train_backend_trl_on_trl1(tiny_model_dir, tmp_path):
    trl = _trl1()
    from rlwhf.cli.main import main

    logs, rows, plan = tmp_path / "synth.jsonl", tmp_path / "grpo.jsonl", tmp_path / "plan.json"
    assert main(["data", "synth", "--output", str(logs), "--n", "24", "--seed", "0"]) == 0
    assert main(["data", "preprocess", "--input", str(logs), "--output", str(rows), "--format", "swift-grpo"]) == 0
    assert main(["plan", "--algo", "grpo", "--profile", "cpu", "--model", str(tiny_model_dir), "--dataset", str(rows),
                 "--output", str(plan), "--output-dir", str(tmp_path / "out"), "--set", "num_generations=4",
                 "per_device_train_batch_size=4", "max_completion_length=8", "logging_steps=1", "max_steps=2",
                 "save_steps=2"]) == 0
    proc = subprocess.run([sys.executable, "-m", "rlwhf", "train", "--plan", str(plan), "--backend", "trl",
                           "--no-progress"], capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["backend"] == "trl" and result["global_step"] == 2
    log = next((tmp_path / "out").glob("v*/logging.jsonl")).read_text().splitlines()
    steps = [json.loads(x) for x in log if '"honesty/abstention_rate"' in x]
    assert len(steps) == 2 and all("rewards/honesty_reward/mean" in s for s in steps)
    config = json.loads(next((tmp_path / "out").glob("v*/trl_config.json")).read_text())
    assert config["max_steps"] == 2 and trl.__version__.startswith("1.")
