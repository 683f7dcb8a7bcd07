"""`rlwhf reward score` throughput against a plain stdlib json read/write loop, one run, same file.

    python benchmarks/reward_speed.py [--rows 200000] [--artifact FILE]

Input: canonical graded tuples from the built-in corpus (`rlwhf.data.synth.iter_synth`), the rows
GRPO data and `reward build` see. The floor reads each line with json.loads and writes it back with
json.dumps; the command under test parses, scores (rubric judge / learned model) and writes every
row plus score and grade. Target: ratio >= 0.5 (the reward must never be the slow part of a step).
The ratio uses CPU time (this process plus its children): on a shared machine wall time also counts
the time spent waiting for a core. Wall times are printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def floor_loop(src: Path, dst: Path) -> None:
    with open(src, encoding="utf-8") as fin, open(dst, "w", encoding="utf-8") as fout:
        for line in fin:
            fout.write(json.dumps(json.loads(line)) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--artifact", default=None, help="score with this artifact too (default: judge alone)")
    ap.add_argument("--repeats", type=int, default=2, help="best of N for each side")
    args = ap.parse_args(argv)

    from rlwhf.data.synth import iter_synth

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "rows.jsonl"
        with open(src, "w", encoding="utf-8") as fh:
            for row in iter_synth(n=args.rows, seed=0):
                fh.write(json.dumps(row) + "\n")
        size_mb = src.stat().st_size / 1e6
        distinct = len({json.loads(line)["answer"] for line in open(src, encoding="utf-8")})

        floor_wall, floor_cpu = _best(args.repeats, lambda: floor_loop(src, tmp / "floor.jsonl"))
        cmd = [sys.executable, "-m", "rlwhf", "reward", "score", "--input", str(src), "--output", str(tmp / "scored.jsonl")]
        env = dict(os.environ)
        env.pop("RLWHF_REWARD_ARTIFACT", None)
        if args.artifact:
            cmd += ["--artifact", args.artifact]
        ours_wall, ours_cpu = _best(args.repeats, lambda: subprocess.run(cmd, check=True, env=env,
                                                                           stderr=subprocess.DEVNULL))
        with open(tmp / "scored.jsonl", encoding="utf-8") as fh:
            scored = sum(1 for _ in fh)
        assert scored == args.rows, f"scored {scored} rows of {args.rows}"

    name = "artifact" if args.artifact else "judge"
    print(f"rows: {args.rows} ({size_mb:.1f} MB, {distinct} distinct answers), single process, best of {args.repeats}")
    print(f"stdlib json read/write loop : wall {floor_wall:6.2f} s  cpu {floor_cpu:6.2f} s  "
          f"{args.rows / floor_cpu:9.0f} rows/cpu-s")
    print(f"rlwhf reward score ({name}) : wall {ours_wall:6.2f} s  cpu {ours_cpu:6.2f} s  "
          f"{args.rows / ours_cpu:9.0f} rows/cpu-s (process start included)")
    cpu_ratio, wall_ratio = floor_cpu / ours_cpu, floor_wall / ours_wall
    # CPU time is the fair measure on a shared machine: wall time also counts waiting for a core.
    print(f"ratio (floor / score), cpu time: {cpu_ratio:.2f}x  (wall time: {wall_ratio:.2f}x)  "
          f"target >= 0.5x: {'MET' if cpu_ratio >= 0.5 else 'NOT MET'}")
    return 0


def _best(repeats: int, fn) -> tuple[float, float]:
    """(wall, cpu) seconds of the fastest of `repeats` runs; cpu counts this process and its children."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        c0 = _cpu()
        w0 = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - w0, _cpu() - c0), key=lambda t: t[1])
    return best


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    sys.exit(main())
