"""Plans run as-is: the CPU GRPO plan trains with the honesty reward; 2 CPU processes (gloo); 2 nodes on localhost.

Each run is 2 steps of a tiny untrained Qwen2 on 8 rows (about 15-25 s, almost all start-up).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from rlwhf.plan import LaunchPlan, PlanConfig, build_plan, validate_plan

pytest.importorskip("swift", reason="ms-swift is part of requirements.txt")

DATA = Path(__file__).resolve().parents[1] / "assets" / "plan_grpo_rows.jsonl"
TINY = ["max_steps=2", "per_device_train_batch_size=4", "num_generations=4", "max_completion_length=8",
        "save_steps=2", "logging_steps=1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def logged_steps(output_dir: str) -> list[dict]:
    rows = [json.loads(line) for p in Path(output_dir).glob("v*/logging.jsonl") for line in p.open() if line.strip()]
    return [r for r in rows if "reward" in r]


def run_argv_env(plan: LaunchPlan, log: Path, timeout: int = 240) -> subprocess.Popen:
    """Start the plan the way `rlwhf train` does: its argv with its env over the current one."""
    return subprocess.Popen(plan.command, env={**os.environ, **plan.env}, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_cpu_grpo_plan_shell_line_trains_and_logs_the_honesty_reward(tiny_model_dir, tmp_path):
    from rlwhf.cli.main import main

    assert main(["data", "synth", "--output", str(tmp_path / "logs.jsonl"), "--n", "200"]) == 0
    assert main(["reward", "build", "--dataset", str(tmp_path / "logs.jsonl"), "--output-dir",
                 str(tmp_path / "reward")]) == 0
    artifact = tmp_path / "reward" / "honesty_reward_model.json"
    plan = build_plan(PlanConfig(model=str(tiny_model_dir), dataset=str(DATA), profile="cpu",
                                 reward_artifact=str(artifact), output_dir=str(tmp_path / "run"), overrides=TINY))
    assert plan.env["RLWHF_REWARD_ARTIFACT"] == str(artifact)
    assert validate_plan(plan) == []
    done = subprocess.run(["bash", "-c", plan.shell], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    steps = logged_steps(plan.output_dir)
    assert len(steps) == 2
    honesty = [k for k in steps[0] if k.startswith("rewards/") and k.endswith("/mean")]
    assert honesty and "Honesty" in honesty[0], steps[0].keys()  # the rlwhf_honesty ORM scored the completions
    assert all(-2.0 <= r["reward"] <= 2.0 for r in steps)
    assert list(Path(plan.output_dir).glob("v*/checkpoint-2/trainer_state.json"))


@pytest.mark.slow
@pytest.mark.integration
def test_two_cpu_processes_with_gloo(tiny_model_dir, tmp_path):
    plan = build_plan(PlanConfig(model=str(tiny_model_dir), dataset=str(DATA), profile="cpu", nproc_per_node=2,
                                 master_port=free_port(), output_dir=str(tmp_path / "run"),
                                 overrides=TINY + ["per_device_train_batch_size=2"]))
    assert plan.env["NPROC_PER_NODE"] == "2" and "--use_cpu" in plan.command
    assert validate_plan(plan) == []
    log = tmp_path / "run.log"
    proc = run_argv_env(plan, log)
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert "torch.distributed.run" in log.read_text()  # ms-swift started itself under torchrun
    assert len(logged_steps(plan.output_dir)) == 2


def doc_block(name: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "multi-node.md").read_text()
    block = text.split(f"<!-- {name} -->", 1)[1].split(f"<!-- /{name} -->", 1)[0]
    return block.split("```bash", 1)[1].rsplit("```", 1)[0]


@pytest.mark.slow
@pytest.mark.integration
def test_multi_node_plan_for_two_nodes_on_localhost_as_documented(tiny_model_dir, tmp_path):
    """docs/multi-node.md's localhost commands, run verbatim: two nodes of one job, same plan but NODE_RANK."""
    env = {**os.environ, "MODEL": str(tiny_model_dir), "DATA": str(DATA), "PORT": str(free_port())}
    proc = subprocess.Popen(["bash", "-e", "-c", doc_block("multi-node-localhost")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    logs = "\n".join((tmp_path / "workspace" / f"node{r}.log").read_text()[-2000:] for r in (0, 1)
                     if (tmp_path / "workspace" / f"node{r}.log").exists())
    assert proc.returncode == 0, out[-2000:] + logs
    plans = [LaunchPlan.load(tmp_path / "workspace" / "plans" / f"node{r}.json") for r in (0, 1)]
    assert plans[0].command == plans[1].command  # the same plan on every node but NODE_RANK
    assert [p.env["NODE_RANK"] for p in plans] == ["0", "1"]
    assert {k: v for k, v in plans[0].env.items() if k != "NODE_RANK"} == \
        {k: v for k, v in plans[1].env.items() if k != "NODE_RANK"}
    node1 = (tmp_path / "workspace" / "node1.log").read_text()
    assert "--nnodes 2" in node1 and "--node_rank 1" in node1  # ms-swift ran itself under torchrun
    assert len(logged_steps(plans[0].output_dir)) == 2
