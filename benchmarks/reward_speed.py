"""`rlwhf reward score` throughput against a plain stdlib json read/write loop, one run, same file.

    python benchmarks/reward_speed.py [--rows 200000] [--artifact FILE]

Input: canonical graded tuples from the built-in corpus (`rlwhf.data.synth.iter_synth`), the rows
GRPO data and `reward build` see. The floor reads each line with json.loads and writes it back with
json.dumps; the command under test parses, scores (rubric judge / learned model) and writes every
row plus score and grade. Target: ratio >= 0.5 (the reward must never be the slow part of a step).
"""

from __future__ import annotations

import argparse
import json
import os
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

        floor = min(_timed(lambda: floor_loop(src, tmp / "floor.jsonl")) for _ in range(args.repeats))
        cmd = [sys.executable, "-m", "rlwhf", "reward", "score", "--input", str(src), "--output", str(tmp / "scored.jsonl")]
        env = dict(os.environ)
        env.pop("RLWHF_REWARD_ARTIFACT", None)
        if args.artifact:
            cmd += ["--artifact", args.artifact]
        ours = min(_timed(lambda: subprocess.run(cmd, check=True, env=env, stderr=subprocess.DEVNULL))
                   for _ in range(args.repeats))
        with open(tmp / "scored.jsonl", encoding="utf-8") as fh:
            scored = sum(1 for _ in fh)
        assert scored == args.rows, f"scored {scored} rows of {args.rows}"

    ratio = floor / ours
    print(f"rows: {args.rows} ({size_mb:.1f} MB, {distinct} distinct answers), single process")
    print(f"stdlib json read/write loop : {floor:7.2f} s  {args.rows / floor:10.0f} rows/s")
    print(f"rlwhf reward score ({'artifact' if args.artifact else 'judge'})  : {ours:7.2f} s  "
          f"{args.rows / ours:10.0f} rows/s (process start included)")
    print(f"ratio (floor time / score time): {ratio:.2f}x  target >= 0.5x: {'MET' if ratio >= 0.5 else 'NOT MET'}")
    return 0


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
