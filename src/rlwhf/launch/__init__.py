"""`rlwhf launch`: the whole loop, one stage after another, each stage resumable.

data (gate, preprocess) -> reward artifact -> policy -> doctor + plan -> evaluation before -> GRPO (or DPO)
-> evaluation after -> report. Each stage is a function of `rlwhf.launch.stages` that calls the library
functions behind the matching `rlwhf` command (docs/design.md) with a typed input and returns a typed
result, so the launch is exactly the sum of its parts. A stage that finished writes `stages/<name>.json`
with its resume key: the digest of its own settings and of the upstream results it reads. Running again
with the same output dir skips every stage whose key is unchanged (a new --eval-limit redoes the held-out
prompts and both evaluations, not the reward, policy or training).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlwhf.config import check
from rlwhf.errors import RlwhfError
from rlwhf.policy.tiny import TinyPolicyConfig
from rlwhf.preset import load_preset
from rlwhf.launch import stages
from rlwhf.reward.shaping import SHAPING_ENV
from rlwhf.reward.teacher_reward import TeacherOptions

STAGES = ["data", "reward", "policy", "expert", "plan", "eval_before", "train", "eval_after", "report"]


@dataclass
class LaunchConfig(TeacherOptions):
    dataset_path: str | None = field(default=None, metadata={
        "help": "graded honesty logs (JSONL, any field layout preprocess accepts); default: the built-in corpus",
        "flags": ["--dataset_path", "--dataset-path"]})
    output_dir: str = field(default="runs/rlwhf", metadata={
        "help": "where everything goes; re-running with the same dir resumes",
        "flags": ["--output_dir", "--output-dir"]})
    model: str | None = field(default=None, metadata={
        "help": "policy: a local model folder or hub id; default: the embedded tiny policy (built locally)"})
    max_minutes: float = field(default=12.0, metadata={
        "help": "time budget; GRPO steps are capped to fit it", "flags": ["--max-minutes", "--max_minutes"]})
    algo: str = field(default="grpo", metadata={"help": "training algorithm", "choices": ["grpo", "dpo"]})
    profile: str = field(default="auto", metadata={
        "help": "hardware profile (auto = what `rlwhf doctor` picks)",
        "choices": ["auto", "cpu", "mps", "single_gpu", "multi_gpu", "multi_node", "ascend_npu"]})
    backend: str = field(default="auto", metadata={
        "help": "trainer: swift (ms-swift subprocess), trl (in-process); auto = swift when installed",
        "choices": ["auto", "swift", "trl"]})
    max_steps: int | None = field(default=None, metadata={
        "help": "GRPO/DPO optimizer steps (default: the preset's)", "flags": ["--max-steps", "--max_steps"]})
    eval_limit: int | None = field(default=None, metadata={
        "help": "evaluate on at most this many held-out prompts (default: all)",
        "flags": ["--eval-limit", "--eval_limit"]})
    eval_prompts: str | None = field(default=None, metadata={
        "help": "held-out prompts file (prompt, reference, answerable); default: the built-in held-out split",
        "flags": ["--eval-prompts", "--eval_prompts"]})
    top_up_synth: bool = field(default=False, metadata={
        "help": "when --dataset_path is tiny, add the built-in training prompts to it",
        "flags": ["--top-up-synth"]})
    tiny_sft_steps: int | None = field(default=None, metadata={
        "help": "SFT steps for the embedded policy (default: its own)", "flags": ["--tiny-sft-steps"]})
    tiny_pack: bool = field(default=TinyPolicyConfig.pack, metadata={
        "help": "build the embedded policy's warm start on packed batches (`rlwhf model tiny --pack`: about "
                "1.35x the step speed of padded ones, the same loss up to float rounding); --no-tiny-pack: the "
                "padded warm start of the eighteenth session's rows (another warm start for the same seed; "
                "docs/honesty-recipe.md, rows 85-89)", "flags": ["--tiny-pack"]})
    chord_mu: float | None = field(default=None, metadata={
        "help": "GRPO with ms-swift's CHORD: this share mu (0-1) of the loss is an SFT loss on right answers to "
                "known questions and honest abstentions on unanswerable ones (graded logs: answerable rows "
                "graded 2 and each unanswerable question's best honest answer, as asked and in surface variants), "
                "so GRPO's abstention takes less of what the policy knows (docs/honesty-recipe.md, rows 69-77, "
                "86-88); default: the preset's launch.chord_mu (0.3) for GRPO on ms-swift; 0: plain GRPO",
        "flags": ["--chord-mu", "--chord_mu"]})
    seed: int = field(default=42, metadata={"help": "seed for data, policy and training"})
    fresh: bool = field(default=False, metadata={"help": "ignore finished stages and redo everything",
                                                  "flags": ["--fresh"]})

    def _check_budget(self):
        if self.max_minutes <= 0:
            raise RlwhfError(f"--max-minutes must be positive, got {self.max_minutes}")
        if self.max_steps is not None and self.max_steps < 1:
            raise RlwhfError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.eval_limit is not None and self.eval_limit < 2:
            raise RlwhfError(f"--eval-limit must be at least 2, got {self.eval_limit}")

    def _check_chord(self):
        if not self.chord_mu:  # the preset's default (applied where it can be) or 0: off
            return
        from rlwhf.train.chord import check_mu

        check_mu(self.chord_mu)
        if self.algo != "grpo":
            raise RlwhfError(f"--chord-mu mixes an SFT loss into GRPO; --algo {self.algo} has none")
        if self.backend == "trl":
            raise RlwhfError("--chord-mu is ms-swift's CHORD (--chord_sft_dataset); TRL's GRPOTrainer has no "
                             "counterpart: use --backend swift or auto")

    def _check_paths(self):
        if self.dataset_path and not Path(self.dataset_path).exists():
            raise RlwhfError(f"{self.dataset_path}: no such file or directory (--dataset_path)")
        if self.eval_prompts and not Path(self.eval_prompts).is_file():
            raise RlwhfError(f"{self.eval_prompts}: no such file (--eval-prompts)")


class StageRunner:
    """Runs the stages in order, each unless DIR/stages/<name>.json holds the result of the same inputs."""

    def __init__(self, out: Path, fresh: bool):
        self.dir = out / "stages"
        if fresh and self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.keys: dict[str, str] = {}  # stage -> resume key, for the stages that read its result
        self.seconds: dict[str, float] = {}

    def marker(self, name: str) -> dict | None:
        path = self.dir / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def run(self, name: str, fn, inputs, always: bool = False):
        """`fn(inputs)`, or the result an earlier run recorded for the same resume key (never when `always`)."""
        key = stages.resume_key(inputs)
        self.keys[name] = key
        head = f"[{STAGES.index(name) + 1}/{len(STAGES)}] {name}"
        prev = self.marker(name)
        if prev is not None and prev.get("key") == key and not always:
            try:
                result = typing.get_type_hints(fn)["return"](**prev["result"])
            except TypeError:  # written by a version of rlwhf whose result had other fields: redo
                result = None
            if result is not None:
                print(f"{head}: done in an earlier run, skipped", file=sys.stderr, flush=True)
                self.seconds[name] = prev.get("seconds", 0.0)
                return result
        print(f"{head} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        result = fn(inputs)
        seconds = round(time.monotonic() - t0, 2)
        self.seconds[name] = seconds
        marker = {"key": key, "inputs": asdict(inputs), "result": asdict(result), "seconds": seconds}
        (self.dir / f"{name}.json").write_text(json.dumps(marker, indent=2, default=str) + "\n")
        print(f"{head}: {seconds:.1f} s", file=sys.stderr, flush=True)
        return result


def launch(cfg: LaunchConfig) -> dict:
    """Run the whole loop; returns report.json's content. One launch per output dir at a time."""
    from rlwhf.lockfile import dir_lock
    from rlwhf.progress import configure_logging

    check(cfg)
    configure_logging(None)  # the library's log lines show, unless a caller (rlwhf -q / -v) chose otherwise
    with dir_lock(Path(cfg.output_dir).resolve(), "rlwhf launch"):
        return _launch(cfg)


def _launch(cfg: LaunchConfig) -> dict:
    """The recipe: each stage's inputs are the launch settings it uses and the results of earlier stages."""
    out = Path(cfg.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    runner = StageRunner(out, cfg.fresh)
    t_start = time.monotonic()
    mu = chord_mu(cfg)

    data = runner.run("data", stages.prepare_data, stages.DataInputs(
        output_dir=str(out / "data"), dataset_path=cfg.dataset_path,
        dataset_sha256=stages.file_sha256(cfg.dataset_path), top_up_synth=cfg.top_up_synth, algo=cfg.algo,
        seed=cfg.seed, eval_prompts=cfg.eval_prompts, eval_prompts_sha256=stages.file_sha256(cfg.eval_prompts),
        eval_limit=cfg.eval_limit, chord="given" if cfg.chord_mu else "preset" if mu else None))
    reward = runner.run("reward", stages.build_reward, stages.RewardInputs(
        output_dir=str(out / "reward"), train_rows=data.train_rows, train_rows_sha256=data.sha256[data.train_rows]))
    policy = runner.run("policy", stages.make_policy, stages.PolicyInputs(
        output_dir=str(out / "policy"), model=cfg.model, seed=cfg.seed, sft_steps=cfg.tiny_sft_steps,
        pack=cfg.tiny_pack))
    expert = runner.run("expert", stages.fit_expert_rows, stages.ExpertInputs(
        output_dir=str(out / "expert"), chord_dataset=data.chord_dataset,
        chord_dataset_sha256=data.chord_dataset and data.sha256[data.chord_dataset], chord_rows=data.chord_rows,
        chord_language=data.chord_language, logs=data.clean if cfg.dataset_path else None, model=policy.model,
        model_key=runner.keys["policy"], seed=cfg.seed))
    grpo = cfg.algo == "grpo"
    dataset = data.grpo_dataset if grpo else data.dpo_dataset
    plan = runner.run("plan", stages.make_plan, stages.PlanInputs(
        output=str(out / "plan.json"), train_dir=str(out / "train"), algo=cfg.algo, profile=cfg.profile,
        max_steps=cfg.max_steps, max_minutes=cfg.max_minutes if cfg.max_steps is None else None, seed=cfg.seed,
        teacher=stages.teacher_options(cfg), model=policy.model, policy_key=runner.keys["policy"], dataset=dataset, dataset_sha256=data.sha256[dataset],
        train_prompts=data.train_prompts, reward_artifact=reward.artifact if grpo else None,
        reward_key=runner.keys["reward"] if grpo else None, preset_sha256=_preset_sha256(),
        reward_shaping=os.environ.get(SHAPING_ENV) if grpo else None, chord_mu=mu if expert.chord_dataset else None,
        chord_dataset=expert.chord_dataset, chord_dataset_sha256=expert.chord_dataset_sha256,
        chord_rows=expert.chord_rows))
    heldout = {"prompts": data.heldout_prompts, "prompts_sha256": data.sha256[data.heldout_prompts]}
    before = runner.run("eval_before", stages.evaluate_policy, stages.EvalInputs(
        output_dir=str(out / "eval_before"), model=policy.model, model_key=runner.keys["policy"], **heldout))
    # Resume a train stage that was cut off; never continue the checkpoints of another run
    # (--fresh, or a finished train stage with other inputs).
    trained = runner.run("train", stages.train_policy, stages.TrainInputs(
        plan=plan.plan, plan_key=runner.keys["plan"], backend=cfg.backend,
        resume=not cfg.fresh and runner.marker("train") is None))
    after = runner.run("eval_after", stages.evaluate_policy, stages.EvalInputs(
        output_dir=str(out / "eval_after"), model=trained.final_model, model_key=runner.keys["train"], **heldout,
        baseline=str(out / "eval_before" / "answers.jsonl"), baseline_key=runner.keys["eval_before"]))
    runner.run("report", stages.write_launch_report, stages.ReportInputs(
        output_dir=str(out), config=asdict(cfg), data=data, reward=reward, policy=policy, expert=expert, plan=plan,
        train=trained, eval_before=before, eval_after=after, stage_seconds=dict(runner.seconds),
        wall_seconds=round(time.monotonic() - t_start, 2)), always=True)
    return json.loads((out / "report.json").read_text())


def chord_mu(cfg: LaunchConfig) -> float | None:
    """CHORD's mu for this launch: --chord-mu (0: none), else the preset's launch.chord_mu where CHORD runs
    (GRPO on ms-swift: not DPO, not TRL, which has no CHORD)."""
    if cfg.chord_mu is not None:
        return cfg.chord_mu or None
    preset = load_preset()
    mu = preset.launch and preset.launch.chord_mu
    if mu is None or cfg.algo != "grpo" or stages.resolve_backend(cfg.backend) != "swift":
        return None
    from rlwhf.train.chord import check_mu

    check_mu(mu, f"{preset.path}: launch.chord_mu")
    return mu


def _preset_sha256() -> str:
    """The preset's content: the plan stage is redone when its numbers change."""
    return load_preset().sha256
