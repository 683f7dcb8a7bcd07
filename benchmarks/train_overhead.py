"""Supervision overhead of `rlwhf train` and the honesty reward's share of a GRPO step.

The same tiny GRPO plan (the preset's GRPO settings: batch 64, 8 generations, 24-token completions;
`--steps` steps) runs through the bare `swift rlhf` command of the plan and through `rlwhf train
--plan`, alternating, `--repeats` times each; each run gets its own output_dir and nothing else
differs. Prints the median wall times and their ratio (target <= 1.10), and the reward function's
time as a share of step time (target < 1%), measured inside the runs: both variants load a small
plugin that subclasses the rlwhf_honesty ORM and records how long each call takes.

    python benchmarks/train_overhead.py [--repeats 3] [--steps 10] [--policy untrained|sft|DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMING_PLUGIN = '''
import os, time
from swift.rewards import orms

_base = orms["rlwhf_honesty"]


class TimedHonesty(_base):
    def __call__(self, completions, **kwargs):
        t0 = time.perf_counter()
        out = super().__call__(completions, **kwargs)
        with open(os.environ["RLWHF_BENCH_REWARD_TIMES"], "a") as fh:
            fh.write(f"{time.perf_counter() - t0:.6f} {len(completions)}\\n")
        return out


orms["rlwhf_honesty_timed"] = TimedHonesty
'''


def cli(*args) -> None:
    from rlwhf.cli.main import main

    code = main([str(a) for a in args])
    if code != 0:
        raise SystemExit(f"rlwhf {' '.join(map(str, args))} exited {code}")


def policy(kind: str, work: Path) -> Path:
    if kind == "sft":
        from rlwhf.policy.tiny import build_tiny

        return Path(build_tiny(work / "policy")["output_dir"])
    if kind != "untrained":
        return Path(kind)
    from rlwhf.data.synth import iter_synth
    from rlwhf.policy.tiny import TinyModelConfig, build_untrained

    texts = [f"{r['prompt']} {r['answer']}" for r in iter_synth(n=4000, seed=0)]
    return build_untrained(work / "policy", texts, TinyModelConfig())  # the default policy's size


def prepare(work: Path, steps: int, model: Path):
    from rlwhf.reward import plugin_path

    cli("data", "synth", "--output", work / "synth.jsonl", "--n", 4000, "--seed", 0)
    cli("data", "preprocess", "--input", work / "synth.jsonl", "--output", work / "grpo.jsonl",
        "--format", "swift-grpo")
    cli("reward", "build", "--dataset", work / "synth.jsonl", "--output-dir", work / "reward")
    (work / "timing_plugin.py").write_text(TIMING_PLUGIN)
    cli("plan", "--algo", "grpo", "--profile", "cpu", "--model", model, "--dataset", work / "grpo.jsonl",
        "--output", work / "plan.json", "--output-dir", work / "runs" / "template",
        "--reward-artifact", work / "reward" / "honesty_reward_model.json",
        "--set", f"max_steps={steps}", f"save_steps={steps}", "log_completions=false",
        f"external_plugins={plugin_path()},{work / 'timing_plugin.py'}", "reward_funcs=rlwhf_honesty_timed")
    from rlwhf.plan import LaunchPlan

    return LaunchPlan.load(work / "plan.json")


def run_once(variant: str, plan, work: Path, index: int) -> dict:
    out = work / "runs" / f"{variant}-{index}"
    times = work / "runs" / f"{variant}-{index}.reward_times"
    plan = plan.with_args(output_dir=str(out))
    env = {**os.environ, **plan.env, "RLWHF_BENCH_REWARD_TIMES": str(times)}
    if variant == "bare":
        argv = plan.command
    else:
        plan_file = plan.write(work / "runs" / f"{variant}-{index}.plan.json")
        argv = [sys.executable, "-m", "rlwhf", "train", "--plan", str(plan_file), "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{variant} run {index} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    from rlwhf.telemetry import collect_steps

    steps = collect_steps(out)
    reward_s = [float(line.split()[0]) for line in times.read_text().splitlines()]
    result = {"wall_s": wall, "steps": len(steps), "step_time_s": sum(s.get("step_time") or 0 for s in steps),
              "reward_s": sum(reward_s), "reward_calls": len(reward_s)}
    if variant == "rlwhf":
        # The wrapper's own cost, independent of how busy the machine is: its CPU time against the
        # trainer's, and the wall time spent outside the trainer process (start-up, telemetry, plots).
        summary = json.loads((out / "telemetry" / "summary.json").read_text())
        result["supervisor_cpu_s"] = summary["supervisor_cpu_s"]
        result["trainer_cpu_s"] = summary["trainer_cpu_s"]
        result["outside_trainer_s"] = wall - sum(a["wall_s"] for a in summary["attempts"])
    return result


def parse_and_prepare(doc: str, repeats: int, steps: int, prefix: str):
    """The command line both GRPO benchmarks share (this one and swift_old_logps.py), then the plan:
    returns (args, work folder, plan)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=repeats, help="runs per variant (median reported)")
    ap.add_argument("--steps", type=int, default=steps, help="GRPO steps per run")
    ap.add_argument("--policy", default="untrained",
                    help="untrained (default policy's size, random weights: fast to build), sft (the "
                         "embedded SFT policy, cached), or a model folder")
    ap.add_argument("--work", default=None, help="working folder (default: a temp dir)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ns = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(ns.work or tempfile.mkdtemp(prefix=prefix)).resolve()
    work.mkdir(parents=True, exist_ok=True)
    return ns, work, prepare(work, ns.steps, policy(ns.policy, work))


def alternating(variants: tuple[str, str], repeats: int, run, line) -> dict[str, list[dict]]:
    """`run(variant, i)` for both variants `repeats` times, the order swapped every other round (so that a
    machine slowing down or speeding up does not favour one); prints `line(variant, i, result)` for each."""
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for i in range(repeats):
        for variant in (variants if i % 2 == 0 else variants[::-1]):
            result = run(variant, i)
            runs[variant].append(result)
            print(line(variant, i, result), flush=True)
    return runs


def main() -> int:
    ns, work, plan = parse_and_prepare(__doc__, 3, 10, "rlwhf-bench-train-")
    print(f"plan: GRPO, {ns.steps} steps, batch {plan.args['per_device_train_batch_size']}, "
          f"{plan.args['num_generations']} generations, max_completion_length "
          f"{plan.args['max_completion_length']}, policy {ns.policy}; {ns.repeats} runs per variant, alternating")

    def line(variant: str, i: int, r: dict) -> str:
        own = (f", supervisor CPU {r['supervisor_cpu_s']:.2f} s of {r['trainer_cpu_s']:.1f} s"
               if variant == "rlwhf" else "")
        return (f"  {variant:5s} run {i}: {r['wall_s']:6.2f} s wall, {r['steps']} steps, "
                f"step time {r['step_time_s']:.2f} s, reward fn {r['reward_s'] * 1000:.1f} ms "
                f"in {r['reward_calls']} calls{own}")

    runs = alternating(("bare", "rlwhf"), ns.repeats, lambda variant, i: run_once(variant, plan, work, i), line)
    bare = statistics.median(r["wall_s"] for r in runs["bare"])
    wrapped = statistics.median(r["wall_s"] for r in runs["rlwhf"])
    all_runs = runs["bare"] + runs["rlwhf"]
    share = sum(r["reward_s"] for r in all_runs) / sum(r["step_time_s"] for r in all_runs)
    per_call = sum(r["reward_s"] for r in all_runs) / sum(r["reward_calls"] for r in all_runs)
    figures = {
        "bare_swift_median_s": round(bare, 2), "rlwhf_train_median_s": round(wrapped, 2),
        "wall_time_ratio": round(wrapped / bare, 3), "wall_time_target": 1.10,
        "reward_share_of_step_time": round(share, 5), "reward_share_target": 0.01,
        "reward_ms_per_call": round(per_call * 1000, 2),
        "completions_per_call": int(plan.args["per_device_train_batch_size"]),
        "repeats": ns.repeats, "steps": ns.steps, "policy": ns.policy,
    }
    cpu_share = statistics.median(r["supervisor_cpu_s"] / r["trainer_cpu_s"] for r in runs["rlwhf"])
    outside = statistics.median(r["outside_trainer_s"] for r in runs["rlwhf"])
    figures.update(supervisor_cpu_share=round(cpu_share, 4), outside_trainer_median_s=round(outside, 2))
    print(f"bare swift rlhf  median wall: {bare:.2f} s")
    print(f"rlwhf train      median wall: {wrapped:.2f} s")
    fastest = min(r["wall_s"] for r in runs["rlwhf"]) / min(r["wall_s"] for r in runs["bare"])
    figures["wall_time_ratio_of_fastest"] = round(fastest, 3)
    print(f"wall-time ratio rlwhf/bare: {wrapped / bare:.3f} of medians, {fastest:.3f} of fastest runs  "
          f"(target <= 1.10: {'met' if wrapped / bare <= 1.10 else 'NOT met'})")
    print(f"rlwhf train's own cost: {cpu_share * 100:.2f}% of the trainer's CPU time; "
          f"{outside:.2f} s wall outside the trainer process (median)")
    print(f"reward function: {per_call * 1000:.2f} ms per call ({plan.args['per_device_train_batch_size']} "
          f"completions), {share * 100:.3f}% of step time  (target < 1%: {'met' if share < 0.01 else 'NOT met'})")
    if ns.json:
        Path(ns.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
