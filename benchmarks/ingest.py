#!/usr/bin/env python3
"""Ingest speed and memory, measured side by side in one run (issue 2).

Throughput on the same N-row honesty log (synth corpus, default 200k rows):
  rlwhf     `gate_file` (validate, clean/quarantine/report) then `preprocess` of the clean file to
            canonical tuples (`--streaming`), in-process
  floor     a plain stdlib loop: json.loads + json.dumps per line, no checks
  datasets  load_dataset("json") -> filter(valid) -> map(canonicalize) -> to_json
Peak RSS of `rlwhf data preprocess --streaming` for 10k and 1M rows, each in a fresh process
(its own VmHWM); plus the gate and the GRPO format, whose duplicate
tracking keeps one 64-bit hash per distinct row / prompt.
Targets: rlwhf >= 1.0x floor, >= 10x datasets; RSS(1M) <= 1.25x RSS(10k).

    python benchmarks/ingest.py [--rows 200000] [--rss-large 1000000] [--repeats 3] [--skip-datasets]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_log(path: Path, n: int) -> None:
    """n rows of the built-in corpus, written the way most tools write JSONL (json.dumps defaults)."""
    from rlwhf.data.synth import iter_synth

    with open(path, "w", encoding="utf-8") as fh:
        for row in iter_synth(n, seed=0):
            fh.write(json.dumps(row) + "\n")


def best_of(repeats: int, fn) -> tuple[float, float]:
    """Fastest (wall, CPU) seconds of `repeats` runs: the machine is shared, the minimum is the least
    disturbed run; CPU time (all threads of this process) is the steadier figure under load."""
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def run_rlwhf(src: Path, work: Path) -> None:
    from rlwhf.data import GateConfig, PreprocessConfig, gate_file, preprocess

    report = gate_file(GateConfig(str(src), clean=str(work / "clean.jsonl"), quarantine=str(work / "q.jsonl"),
                                  report=str(work / "report.json")))
    assert report["invalid"] == 0, report["reasons"]
    stats = preprocess(PreprocessConfig(output=str(work / "rlwhf.jsonl"), input=[str(work / "clean.jsonl")],
                                        format="rlwhf", streaming=True), log=lambda m: None)
    assert stats["written"] == report["valid"]


def run_preprocess_only(src: Path, work: Path) -> None:
    from rlwhf.data import PreprocessConfig, preprocess

    preprocess(PreprocessConfig(output=str(work / "rlwhf1.jsonl"), input=[str(src)], format="rlwhf",
                                streaming=True, quarantine=str(work / "q1.jsonl")), log=lambda m: None)


def run_floor(src: Path, work: Path) -> None:
    loads, dumps = json.loads, json.dumps
    with open(src, encoding="utf-8") as fh, open(work / "floor.jsonl", "w", encoding="utf-8") as out:
        for line in fh:
            out.write(dumps(loads(line)) + "\n")


def run_datasets(src: Path, work: Path) -> None:
    import datasets

    from rlwhf.data.schema import canonicalize, validate

    datasets.disable_progress_bars()
    cache = work / "hf_cache"
    ds = datasets.load_dataset("json", data_files=str(src), split="train", cache_dir=str(cache))
    ds = ds.filter(lambda row: validate(row) is None)
    ds = ds.map(lambda row: canonicalize(row), remove_columns=ds.column_names)
    ds.to_json(str(work / "datasets.jsonl"))
    del ds
    shutil.rmtree(cache, ignore_errors=True)


# The child reports its own high-water mark: VmHWM belongs to the process image after exec, while
# rusage maxrss would also count the memory of this (large) parent that the child was forked from.
_RSS_WRAPPER = """
import sys
from rlwhf.cli.main import main
rc = main(sys.argv[2:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
open(sys.argv[1], "w").write(hwm.split()[1])
sys.exit(rc)
"""


def peak_rss_mb(argv: list[str], work: Path) -> float:
    """Peak resident memory (MB) of `rlwhf ARGV...` run in a fresh Python process."""
    out = work / "hwm.txt"
    proc = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, str(out), *argv], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"rlwhf {' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return int(out.read_text()) / 1024  # kB -> MB


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rss-small", type=int, default=10_000)
    ap.add_argument("--rss-large", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-datasets", action="store_true", help="leave out the (slow) datasets pipeline")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir, removed after)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    work = Path(args.workdir or tempfile.mkdtemp(prefix="rlwhf-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        src = work / "logs.jsonl"
        t0 = time.perf_counter()
        build_log(src, args.rows)
        size_mb = src.stat().st_size / 1e6
        print(f"input: {args.rows} synth rows, {size_mb:.1f} MB (built in {time.perf_counter() - t0:.1f} s); "
              f"cpus={os.cpu_count()}; best of {args.repeats}")
        n = args.rows
        results: dict[str, float] = {}
        results["floor"] = best_of(args.repeats, lambda: run_floor(src, work))
        results["rlwhf"] = best_of(args.repeats, lambda: run_rlwhf(src, work))
        results["rlwhf_one_pass"] = best_of(args.repeats, lambda: run_preprocess_only(src, work))
        if not args.skip_datasets:
            results["datasets"] = best_of(1, lambda: run_datasets(src, work))
        assert (work / "rlwhf.jsonl").read_bytes() == (work / "rlwhf1.jsonl").read_bytes()

        floor_wall, floor_cpu = (n / t for t in results["floor"])
        labels = {
            "floor": "stdlib json.loads/json.dumps loop (floor)",
            "rlwhf": "rlwhf gate + preprocess --streaming",
            "rlwhf_one_pass": "rlwhf preprocess --quarantine (validate+map, one pass)",
            "datasets": "datasets load_dataset/filter/map/to_json",
        }
        print(f"{'pipeline':56} {'wall s':>7} {'rows/s':>8} {'x floor':>7} {'cpu s':>7} {'x floor':>7}")
        for key, (wall, cpu) in results.items():
            print(f"{labels[key]:56} {wall:7.2f} {n / wall:8.0f} {n / wall / floor_wall:7.2f} "
                  f"{cpu:7.2f} {n / cpu / floor_cpu:7.2f}")
        verdict = lambda ok: "OK" if ok else "SHORT"  # noqa: E731
        ours_wall, ours_cpu = results["rlwhf"]
        print(f"target rlwhf >= 1.0x floor: wall {results['floor'][0] / ours_wall:.2f}x "
              f"{verdict(results['floor'][0] >= ours_wall)}, cpu {results['floor'][1] / ours_cpu:.2f}x "
              f"{verdict(results['floor'][1] >= ours_cpu)}")
        if "datasets" in results:
            vs_wall, vs_cpu = results["datasets"][0] / ours_wall, results["datasets"][1] / ours_cpu
            print(f"target rlwhf >= 10x datasets: wall {vs_wall:.1f}x {verdict(vs_wall >= 10)}, "
                  f"cpu {vs_cpu:.1f}x {verdict(vs_cpu >= 10)}")

        # ---- memory: fresh processes, small vs large input
        small, large = work / "small.jsonl", work / "large.jsonl"
        build_log(small, args.rss_small)
        build_log(large, args.rss_large)
        print(f"peak RSS (MB), {args.rss_small} vs {args.rss_large} rows, each a fresh process:")
        cli = ["data"]
        cases = {
            "preprocess --streaming --format rlwhf": lambda f: cli + ["preprocess", "--input", str(f), "--output",
                                                                      str(work / "o.jsonl"), "--streaming"],
            "preprocess --streaming --format swift-grpo": lambda f: cli + [
                "preprocess", "--input", str(f), "--output", str(work / "o.jsonl"), "--streaming", "--format",
                "swift-grpo"],
            "gate": lambda f: cli + ["gate", str(f), "--clean", str(work / "c.jsonl"), "--quarantine",
                                     str(work / "q.jsonl"), "--report", str(work / "r.json")],
        }
        for name, make in cases.items():
            a, b = peak_rss_mb(make(small), work), peak_rss_mb(make(large), work)
            target = "  target <= 1.25x: " + verdict(b <= 1.25 * a) if name.endswith("rlwhf") else ""
            print(f"  {name:44} {a:7.1f} vs {b:7.1f}  ratio {b / a:.2f}{target}")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
