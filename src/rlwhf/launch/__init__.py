"""`rlwhf launch`: the whole loop, one stage after another, each stage resumable.

gate -> preprocess -> reward artifact -> doctor + plan -> policy -> evaluation before -> GRPO (or DPO)
-> evaluation after -> report. Every stage goes through the same documented command contract that a
user would type (docs/design.md), run in-process, so the launch is exactly the sum of its parts. A stage that
finished writes `stages/<name>.json`; running again with the same output dir skips it.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlwhf.config import check
from rlwhf.errors import RlwhfError
from rlwhf.preset import Preset, load_preset
from rlwhf.reward.teacher_reward import TeacherOptions

STAGES = ["data", "reward", "policy", "plan", "eval_before", "train", "eval_after", "report"]
TINY_DATA_ROWS = 50  # below this many training prompts the run is a smoke test, not a result


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

    def _check_paths(self):
        if self.dataset_path and not Path(self.dataset_path).exists():
            raise RlwhfError(f"{self.dataset_path}: no such file or directory (--dataset_path)")
        if self.eval_prompts and not Path(self.eval_prompts).is_file():
            raise RlwhfError(f"{self.eval_prompts}: no such file (--eval-prompts)")


def _cli(*argv: str, ok: tuple[int, ...] = (0,)) -> int:
    """Run one documented `rlwhf` command in-process; an exit status outside `ok` stops the launch."""
    from rlwhf.cli.main import main

    argv = [str(a) for a in argv]
    rc = main(argv) or 0
    if rc not in ok:
        raise RlwhfError(f"stage command failed (exit {rc}): rlwhf {' '.join(argv)}", exit_code=1)
    return rc


def _warn(warnings: list[str], msg: str) -> None:
    """A warning for the report, shown as it happens."""
    warnings.append(msg)
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def _evaluate(*argv, out_dir: Path) -> dict:
    """`rlwhf evaluate`; exit 1 means some rows could not be graded (they are in answers.jsonl with an
    error status and metrics count the graded ones): the launch goes on and the report says so."""
    rc = _cli("evaluate", *argv, "--output-dir", out_dir, ok=(0, 1))
    result = {"metrics": str(out_dir / "metrics.json"), "warnings": []}
    if rc == 1:
        n = json.loads((out_dir / "metrics.json").read_text()).get("errors")
        _warn(result["warnings"],
              f"{out_dir.name}: {n if n is not None else 'some'} rows could not be graded (see answers.jsonl)")
    return result


class _Stages:
    """Finished-stage markers under DIR/stages: what makes a re-run resume."""

    def __init__(self, out: Path, fresh: bool):
        self.dir = out / "stages"
        if fresh and self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, float] = {}

    def done(self, name: str) -> dict | None:
        path = self.dir / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def run(self, index: int, name: str, fn, cfg_key: dict):
        """Run `fn()` unless a marker with the same inputs exists; returns its result dict."""
        prev = self.done(name)
        head = f"[{index}/{len(STAGES)}] {name}"
        if prev is not None and prev.get("inputs") == cfg_key:
            print(f"{head}: done in an earlier run, skipped", file=sys.stderr, flush=True)
            self.timings[name] = prev.get("seconds", 0.0)
            return prev["result"]
        print(f"{head} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        result = fn()
        seconds = round(time.monotonic() - t0, 2)
        self.timings[name] = seconds
        (self.dir / f"{name}.json").write_text(
            json.dumps({"inputs": cfg_key, "result": result, "seconds": seconds}, indent=2) + "\n")
        print(f"{head}: {seconds:.1f} s", file=sys.stderr, flush=True)
        return result


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def launch(cfg: LaunchConfig) -> dict:
    """Run the whole loop; returns report.json's content. One launch per output dir at a time."""
    from rlwhf.lockfile import dir_lock

    check(cfg)
    with dir_lock(Path(cfg.output_dir).resolve(), "rlwhf launch"):
        return _launch(cfg)


def _launch(cfg: LaunchConfig) -> dict:
    out = Path(cfg.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    preset = load_preset()
    stages = _Stages(out, cfg.fresh)
    t_start = time.monotonic()
    # A stage is redone when its inputs change: the launch options and the preset's numbers.
    key = {k: v for k, v in asdict(cfg).items() if k not in ("fresh", "output_dir")}
    key["preset_sha256"] = preset.sha256
    data_dir = out / "data"

    # 1. data: the logs (or the built-in corpus) through the gate, then into ms-swift's row format.
    def stage_data():
        data_dir.mkdir(parents=True, exist_ok=True)
        raw = data_dir / "logs.jsonl"
        warnings = []
        if cfg.dataset_path:
            from rlwhf.data import PreprocessConfig, preprocess

            # the library call behind `rlwhf data preprocess`, for its counts
            summary = preprocess(PreprocessConfig(input=[cfg.dataset_path], output=str(raw), format="rlwhf"))
            if _count_lines(raw) == 0:
                raise RlwhfError(f"{cfg.dataset_path}: no usable rows (preprocess rejected every row; "
                                 "the reasons, by line, are above)")
            if summary.get("invalid"):
                _warn(warnings, f"{summary['invalid']} of {summary['read']} rows of {cfg.dataset_path} could not "
                                f"be read as honesty tuples and were left out (reasons: {summary.get('reasons')}; "
                                "lines above)")
        else:
            _cli("data", "synth", "--output", raw, "--seed", cfg.seed, "--split", "train")
        clean = data_dir / "logs.clean.jsonl"
        _cli("data", "gate", raw, "--clean", clean, "--quarantine", data_dir / "logs.quarantine.jsonl",
             "--report", data_dir / "gate_report.json", ok=(0, 1))  # 1: some rows invalid, outputs written
        gate = json.loads((data_dir / "gate_report.json").read_text())
        if gate["valid"] == 0:
            raise RlwhfError(f"{cfg.dataset_path or raw}: no valid rows passed the gate "
                             f"(see {data_dir / 'logs.quarantine.jsonl'})")
        if gate["invalid"]:
            _warn(warnings, f"{gate['invalid']} of {gate['total']} rows failed the gate and were left out "
                            f"(reasons: {gate['reasons']}; rows in {data_dir / 'logs.quarantine.jsonl'})")
        train_rows = clean
        if cfg.dataset_path and cfg.top_up_synth:
            synth = data_dir / "synth_train.jsonl"
            _cli("data", "synth", "--output", synth, "--seed", cfg.seed, "--split", "train")
            train_rows = data_dir / "logs.topped_up.jsonl"
            with open(train_rows, "wb") as dst:
                for src in (clean, synth):
                    dst.write(Path(src).read_bytes())
        grpo = data_dir / "train.swift-grpo.jsonl"
        _cli("data", "preprocess", "--input", train_rows, "--output", grpo, "--format", "swift-grpo")
        n_prompts = _count_lines(grpo)
        if n_prompts < TINY_DATA_ROWS:
            _warn(warnings, f"only {n_prompts} training prompts: this run is a smoke test, not a result"
                            + ("" if cfg.top_up_synth else "; add --top-up-synth to add the built-in prompts"))
        result = {"logs": str(raw), "clean": str(clean), "gate": gate, "train_rows": str(train_rows),
                  "grpo_dataset": str(grpo), "train_prompts": n_prompts, "warnings": warnings}
        if cfg.algo == "dpo":
            pairs = data_dir / "train.dpo.jsonl"
            _cli("data", "pairs", "--input", train_rows, "--output", pairs)
            result["dpo_dataset"] = str(pairs)
            result["dpo_pairs"] = _count_lines(pairs)
            if not result["dpo_pairs"]:
                raise RlwhfError(f"{cfg.dataset_path or raw}: no DPO pairs (each prompt needs two answers whose "
                                 "grades differ by at least the minimum margin)")
        prompts = data_dir / "heldout_prompts.jsonl"
        if cfg.eval_prompts:
            shutil.copyfile(cfg.eval_prompts, prompts)
        else:
            _cli("data", "synth", "--output", prompts, "--seed", cfg.seed, "--split", "heldout", "--prompts-only")
        if cfg.eval_limit:
            _subsample(prompts, cfg.eval_limit, cfg.seed)
        result["heldout_prompts"] = str(prompts)
        result["heldout_n"] = _count_lines(prompts)
        return result

    data = stages.run(1, "data", stage_data, key)

    # 2. reward: the portable artifact, learned from the clean logs.
    reward_dir = out / "reward"
    reward = stages.run(2, "reward", lambda: (
        _cli("reward", "build", "--dataset", data["train_rows"], "--output-dir", reward_dir),
        {"artifact": str(reward_dir / "honesty_reward_model.json"),
         "metadata": json.loads((reward_dir / "metadata.json").read_text())})[1], key)

    # 3. policy: the given model or the embedded tiny one (cached by content hash).
    def stage_policy():
        if cfg.model:
            return {"model": cfg.model, "embedded": False}
        target = out / "policy"
        argv = ["model", "tiny", "--output", target, "--seed", cfg.seed]
        if cfg.tiny_sft_steps is not None:
            argv += ["--sft-steps", cfg.tiny_sft_steps]
        _cli(*argv)
        return {"model": str(target), "embedded": True}

    policy = stages.run(3, "policy", stage_policy, key)

    # 4. doctor + plan: the launch bundle that the train stage runs as-is.
    def stage_plan():
        from rlwhf.hardware import detect, pick_profile

        info = detect()
        profile, why = pick_profile(info) if cfg.profile == "auto" else (cfg.profile, "asked for")
        plan_path = out / "plan.json"
        dataset = data["dpo_dataset"] if cfg.algo == "dpo" else data["grpo_dataset"]
        argv = ["plan", "--algo", cfg.algo, "--profile", profile, "--model", policy["model"],
                "--dataset", dataset, "--output", plan_path, "--output-dir", out / "train"]
        if cfg.algo == "grpo":
            argv += ["--reward-artifact", reward["artifact"]]
        steps = cfg.max_steps or _budget_steps(cfg, preset, profile)
        argv += ["--set", f"max_steps={steps}", "--set", f"seed={cfg.seed}"]
        if cfg.algo == "grpo":
            argv += _teacher_flags(cfg)
        if cfg.algo == "grpo":
            # A step takes batch / num_generations prompts; with fewer prompts than that the trainer's
            # sampler yields no batch at all, so a tiny dataset gets a batch that holds all of it.
            section = preset.algo("grpo")
            gens = section.int_arg("num_generations")
            if data["train_prompts"] * gens < section.int_arg("per_device_train_batch_size"):
                argv += ["--set", f"per_device_train_batch_size={data['train_prompts'] * gens}"]
        _cli(*argv)
        _cli("plan", "--validate", plan_path)
        return {"plan": str(plan_path), "profile": profile, "why": why, "max_steps": steps,
                "doctor": info}

    plan = stages.run(4, "plan", stage_plan, key)

    # 5. evaluation before: the warm-start policy's answers are the honesty baseline.
    before_dir = out / "eval_before"
    eval_before = stages.run(5, "eval_before", lambda: _evaluate(
        "--model", policy["model"], "--prompts", data["heldout_prompts"], out_dir=before_dir), key)

    # 6. train: the plan's command (ms-swift) or TRL in-process, with supervision and telemetry.
    def stage_train():
        from rlwhf.train import TrainConfig, train

        backend = cfg.backend
        if backend == "auto":
            import importlib.util

            backend = "swift" if importlib.util.find_spec("swift") else "trl"
        # Resume a train stage that was cut off; never continue the checkpoints of another run
        # (--fresh, or a finished train stage with other inputs).
        resume = not cfg.fresh and stages.done("train") is None
        result = train(TrainConfig(plan=plan["plan"], backend=backend, resume=resume))
        return {**{k: (str(v) if isinstance(v, Path) else v) for k, v in result.items()}, "backend": backend}

    trained = stages.run(6, "train", stage_train, key)

    # 7. evaluation after, against the baseline answers (prudence / over-conservativeness).
    after_dir = out / "eval_after"
    eval_after = stages.run(7, "eval_after", lambda: _evaluate(
        "--model", trained["final_model"], "--prompts", data["heldout_prompts"],
        "--baseline", before_dir / "answers.jsonl", out_dir=after_dir), key)

    # 8. report.
    from rlwhf.launch.report import write_report

    def stage_report():
        warnings = data.get("warnings", []) + eval_before.get("warnings", []) + eval_after.get("warnings", [])
        return write_report(out, cfg=asdict(cfg), data=data, reward=reward, plan=plan, policy=policy,
                            trained=trained, warnings=warnings, timings=dict(stages.timings),
                            wall_seconds=round(time.monotonic() - t_start, 2))

    stages.run(8, "report", stage_report, {**key, "_t": time.time()})
    report = json.loads((out / "report.json").read_text())
    return report


def _teacher_flags(cfg: TeacherOptions) -> list[str]:
    """The teacher flags given to the launch, passed on to `rlwhf plan` as the same flags."""
    import dataclasses

    argv = []
    for f in dataclasses.fields(TeacherOptions):
        value = getattr(cfg, f.name)
        if value is not None:
            argv += ["--" + f.name.replace("_", "-"), str(value)]
    return argv


def _budget_steps(cfg: LaunchConfig, preset: Preset, profile: str) -> int:
    """The preset's steps for the algorithm; on a CPU capped so the whole loop fits --max-minutes."""
    steps = preset.algo(cfg.algo).int_arg("max_steps")
    if profile != "cpu" or preset.launch is None:
        return steps
    return max(1, min(steps, preset.launch.affordable_steps(cfg.max_minutes)))


def _subsample(path: Path, limit: int, seed: int) -> None:
    """Keep `limit` rows, the same ones every run, balanced over answerable/unanswerable as given."""
    import random

    rows = [line for line in path.read_bytes().splitlines(keepends=True) if line.strip()]
    if len(rows) <= limit:
        return
    rng = random.Random(seed)
    keep = sorted(rng.sample(range(len(rows)), limit))
    path.write_bytes(b"".join(rows[i] for i in keep))
