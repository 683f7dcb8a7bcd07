"""GRPO through ms-swift with and without its old-policy forward (`rlwhf.integrations.swift_old_logps`).

The same tiny GRPO plan (the preset's GRPO settings: batch 64, 8 generations, 24-token completions,
`--steps` steps; the plan of `benchmarks/train_overhead.py`) runs as the plan's bare `swift rlhf` command
with RLWHF_SWIFT_OLD_LOGPS=compute (ms-swift 4.6 as it is) and =skip (the rlwhf plugin's default),
alternating, `--repeats` times each. Prints each run's step time (the trainer's own per-step timings, the
first step left out) and wall time, the medians' ratio skip/compute, and whether the two variants logged
the same loss, reward, KL and gradient norm at every step (they should: the skip changes no number).

    python benchmarks/swift_old_logps.py [--repeats 2] [--steps 30] [--policy untrained|sft|DIR]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_overhead import alternating, parse_and_prepare  # noqa: E402  (the same plan and policy as that benchmark)

SAME = ("loss", "reward", "kl", "grad_norm", "reward_std")


def run_once(variant: str, plan, work: Path, index: int) -> dict:
    out = work / "runs" / f"{variant}-{index}"
    plan = plan.with_args(output_dir=str(out))
    env = {**os.environ, **plan.env, "RLWHF_SWIFT_OLD_LOGPS": variant,
           "RLWHF_BENCH_REWARD_TIMES": str(work / "runs" / f"{variant}-{index}.reward_times")}
    t0 = time.perf_counter()
    proc = subprocess.run(plan.command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{variant} run {index} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    from rlwhf.telemetry import collect_steps

    steps = collect_steps(out)
    return {"wall_s": wall, "steps": steps, "step_time_s": sum(s.get("step_time") or 0 for s in steps[1:]),
            "skipped": "old-policy forward is skipped" in proc.stdout}


def main() -> int:
    ns, work, plan = parse_and_prepare(__doc__, 2, 30, "rlwhf-bench-oldlogps-")
    print(f"plan: GRPO, {ns.steps} steps, batch {plan.args['per_device_train_batch_size']}, "
          f"{plan.args['num_generations']} generations, beta {plan.args.get('beta')}, policy {ns.policy}; "
          f"{ns.repeats} runs per variant, alternating")
    runs = alternating(("compute", "skip"), ns.repeats, lambda variant, i: run_once(variant, plan, work, i),
                       lambda variant, i, r: f"  {variant:7s} run {i}: {r['wall_s']:6.2f} s wall, "
                       f"{len(r['steps'])} steps, step time {r['step_time_s']:.2f} s (steps 2-{len(r['steps'])}), "
                       f"old-policy forward {'skipped' if r['skipped'] else 'run'}")
    same = (all(len(r["steps"]) == ns.steps for r in runs["compute"] + runs["skip"])
            and all(a.get(k) == b.get(k) for x in runs["compute"] for y in runs["skip"]
                    for a, b in zip(x["steps"], y["steps"]) for k in SAME))
    compute = statistics.median(r["step_time_s"] for r in runs["compute"])
    skip = statistics.median(r["step_time_s"] for r in runs["skip"])
    wall_c = statistics.median(r["wall_s"] for r in runs["compute"])
    wall_s = statistics.median(r["wall_s"] for r in runs["skip"])
    figures = {"compute_step_time_median_s": round(compute, 2), "skip_step_time_median_s": round(skip, 2),
               "step_time_ratio": round(skip / compute, 3), "wall_ratio": round(wall_s / wall_c, 3),
               "same_numbers": same, "skipped_in_every_skip_run": all(r["skipped"] for r in runs["skip"]),
               "run_in_every_compute_run": not any(r["skipped"] for r in runs["compute"]),
               "repeats": ns.repeats, "steps": ns.steps, "policy": ns.policy}
    print(f"step time, median: compute {compute:.2f} s, skip {skip:.2f} s: ratio skip/compute "
          f"{skip / compute:.3f}; wall {wall_c:.2f} s against {wall_s:.2f} s (ratio {wall_s / wall_c:.3f})")
    print(f"loss, reward, KL and gradient norm at every step: {'identical' if same else 'DIFFERENT'} "
          f"in the two variants")
    if ns.json:
        Path(ns.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if same and figures["skipped_in_every_skip_run"] and figures["run_in_every_compute_run"] else 1


if __name__ == "__main__":
    sys.exit(main())
