"""The seed's Suggested Workflow and its 5-second start, run verbatim, in order, in a clean copy of the
checkout (docs/seed-workflow.md holds the text; the commands are read from it).

Each command runs through bash exactly as written; the environment only says where the embedded policy is
cached (built once per session by the `embedded_policy_cache` fixture, as a user's first run would) and
caps training at 2 steps (RLWHF_MAX_STEPS, read wherever the preset is). Steps 4 and 5 are prose in the
seed: step 4 runs the plan's own `shell` line inside vendor/ms-swift-sub, step 5 the evaluator command the
doc gives, with enable_dpo_reward=true."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "seed-workflow.md"

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def documented_commands() -> tuple[list[str], list[str], str]:
    """(steps 1-3 commands, the 5-second start's commands, step 5's command) as the doc writes them."""
    text = DOC.read_text()
    workflow = text.split("## Suggested Workflow", 1)[1].split("### 5-second start", 1)[0]
    steps = []
    for n in (1, 2, 3):
        line = next(x for x in workflow.splitlines() if x.startswith(f"{n}. "))
        steps.append(next(c for c in re.findall(r"`([^`]+)`", line) if c.startswith("python")))
    block = text.split("### 5-second start", 1)[1].split("```", 2)[1]
    start = [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    step5 = next(x.strip() for x in text.splitlines() if "grok_search_evaluator.main --enable_dpo_reward true" in x)
    return steps, [re.sub(r"\s+", " ", c) for c in start], step5


def clean_copy(dest: Path) -> Path:
    """The checkout's files (tracked, and new ones git does not ignore): no workspace, models, vendor."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for rel in listed:
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def test_the_doc_holds_the_seed_text():
    steps, start, step5 = documented_commands()
    assert steps == ["python3 scripts/data_pipeline/ms_swift_preprocess.py --streaming",
                     "python3 -m plugins.core.custom_honesty_rm.main",
                     "python3 scripts/training/unsloth_standby_runner.py"]
    assert start == ["python scripts/setup/vendor_ms_swift.py",
                     "python scripts/training/master_rlwhf_launcher.py launch --dataset_path "
                     "data/test/honesty_logs_sample.jsonl --output_dir experiments/rlwhf_quickstart/"]
    assert "workspace/plans/ms_swift_grpo_launch.json" in DOC.read_text() and "enable_dpo_reward" in step5


@pytest.mark.xdist_group("embedded_policy")  # built once, on one worker (tests/conftest.py)
def test_seed_workflow_verbatim(tmp_path, embedded_policy_cache):
    steps, start, step5 = documented_commands()
    root = clean_copy(tmp_path / "checkout")
    bin_dir = tmp_path / "bin"  # `python` and `python3` are this interpreter (the seed uses both names)
    bin_dir.mkdir()
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(root / "src"),
           "RLWHF_CACHE_DIR": str(embedded_policy_cache), "RLWHF_MAX_STEPS": "2", "HF_HUB_OFFLINE": "1",
           "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("RLWHF_MODEL", None)

    def sh(command: str, cwd: Path = root, timeout: float = 600) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        assert "Traceback" not in done.stderr
        return done

    # 1. preprocess: tuples -> ms-swift rows, encoded by ms-swift's EncodePreprocessor (the cached policy's tokenizer)
    done = sh(steps[0])
    rows = [json.loads(x) for x in (root / "workspace/data/ms_swift_grpo.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(r["messages"][0]["role"] == "user" for r in rows)
    encode = json.loads((root / "workspace/data/ms_swift_grpo.jsonl.encode.json").read_text())
    assert encode["encoded"] is True and encode["encoded_rows"] == 3 and encode["failed_rows"] == []
    assert encode["model_source"] == "the embedded default policy, cached" and encode["prompt_tokens"]["max"] > 0
    assert "encode: ms-swift EncodePreprocessor" in done.stderr

    # 2. the reward plugin from the CLI
    sh(steps[1])
    artifact = root / "models/reward/custom_honesty_rm/honesty_reward_model.json"
    assert artifact.is_file()

    # 3. the standby runner, no arguments: the embedded policy from the cache, the auto profile
    done = sh(steps[2])
    plan = json.loads((root / "workspace/plans/ms_swift_grpo_launch.json").read_text())
    report = json.loads((root / "workspace/telemetry/unsloth_standby_report.json").read_text())
    assert plan["algo"] == "grpo" and report["shell"] == plan["shell"] and "from the cache" in done.stderr
    assert plan["args"]["max_steps"] == 2 and plan["env"]["RLWHF_REWARD_ARTIFACT"] == str(artifact)
    assert "Unsloth Standby: " in done.stdout and f"cd vendor/ms-swift-sub && {plan['shell']}" in done.stdout

    # 4. the plan's command, for real, inside vendor/ms-swift-sub
    sh(plan["shell"], cwd=root / "vendor" / "ms-swift-sub")
    checkpoints = sorted((root / "workspace/runs/grpo").glob("v*/checkpoint-2"))
    assert len(checkpoints) == 1 and (checkpoints[0] / "trainer_state.json").is_file()
    logged = [json.loads(x) for x in (checkpoints[0].parent / "logging.jsonl").read_text().splitlines()]
    assert any("rewards/HonestyORM/mean" in r or any(k.startswith("rewards/") for k in r) for r in logged)

    # 5. the evaluator with enable_dpo_reward=true, on the policy step 4 trained
    sh(step5.replace("CHECKPOINT", str(checkpoints[0])))
    metrics = json.loads((root / "workspace/eval/seed_workflow/metrics.json").read_text())
    assert metrics["n"] == 6 and metrics["dpo"]["rows_with_preferred"] == 6 and metrics["dpo"]["graded_pairs"] == 6
    answers = [json.loads(x) for x in (root / "workspace/eval/seed_workflow/answers.jsonl").read_text().splitlines()]
    assert all(-1 <= r["dpo_delta"] <= 1 for r in answers)
    assert (root / "workspace/eval/seed_workflow/dpo_pairs.jsonl").is_file()

    # the 5-second start
    done = sh(start[0])
    assert "ms-swift 4.6.0 (already installed" in done.stdout
    sh(start[1], timeout=900)
    quick = json.loads((root / "experiments/rlwhf_quickstart/report.json").read_text())
    assert quick["train"]["global_step"] == 2 and quick["train"]["backend"] == "swift"
    assert any("smoke test" in w for w in quick["warnings"])
