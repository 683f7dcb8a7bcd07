"""A real two-step `swift rlhf` GRPO run on four questions with an rlwhf reward function, and the check that
every reward it logged is the grade our judge gives that completion. Shared by the reward-plugin and
teacher-reward tests (tests/integrations)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from rlwhf.reward import judge, plugin_path

QUESTIONS = [
    ("What is the capital of France?", "Paris", True),
    ("Who will win the 2040 World Cup?", None, False),
    ("What is 7 plus 5?", "12", True),
    ("What did my neighbour eat today?", None, False),
]


def run_swift_grpo(model: Path, tmp_path: Path, reward_funcs: str, batch: int, env: dict, *extra: str) -> Path:
    """`swift rlhf --rlhf_type grpo` for 2 steps on QUESTIONS (2 generations each); returns its --output_dir.
    Its stdout and stderr are kept in `tmp_path / "swift.log"`."""
    data = tmp_path / "grpo.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q}], "solution": s,
                                        "answerable": a}) + "\n" for q, s, a in QUESTIONS))
    out = tmp_path / "out"
    cmd = ["swift", "rlhf", "--rlhf_type", "grpo", "--model", str(model), "--model_type", "qwen2",
           "--template", "chatml", "--check_model", "false", "--dataset", str(data),
           "--external_plugins", plugin_path(), "--reward_funcs", reward_funcs, "--use_vllm", "false",
           "--num_generations", "2", "--per_device_train_batch_size", str(batch), "--max_completion_length", "8",
           "--max_steps", "2", "--logging_steps", "1", "--output_dir", str(out), "--report_to", "none",
           "--tuner_type", "full", "--torch_dtype", "float32", "--dataloader_num_workers", "0",
           "--save_strategy", "no", "--log_completions", "true", *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    env.pop("RLWHF_REWARD_ARTIFACT", None)
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    (tmp_path / "swift.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def rewards_checked_against_the_judge(completions: Path, column: str) -> int:
    """Every reward in ms-swift's completions.jsonl `column` is our judge's grade for that completion, or 0.0
    where the judge would pay a positive grade (ms-swift flags a completion cut off at max_completion_length
    `is_truncated`, and a cut-off answer earns nothing); returns how many were checked."""
    answerable = {q: a for q, _, a in QUESTIONS}
    checked = 0
    for line in completions.read_text().splitlines():
        rec = json.loads(line)
        for prompt, completion, reward, solution in zip(rec["prompt"], rec["completion"], rec[column],
                                                        rec["solution"]):
            question = prompt.split("user\n", 1)[1].split("<|im_end|>", 1)[0]
            expected = judge(question, completion.strip(), solution, answerable[question]).grade
            assert reward == expected or (reward == 0.0 and expected > 0), (question, completion, reward)
            checked += 1
    return checked
