"""`benchmarks/policy_recipe.py --summarize`: every folder it is given gets its own column, labelled by the
seed in its report.json or, without one (a re-evaluated folder), by its name; none is dropped or
mislabelled when two folders share a seed; each target says on how many of them it holds."""

import json
import subprocess
import sys
from pathlib import Path

from rlwhf.evaluate.metrics import compute_metrics

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "policy_recipe.py"


def _rows(right: int) -> list[dict]:
    """Ten answerable rows (`right` of them correct) and two unanswerable ones, graded."""
    return [{"id": f"q{i}", "verdict": "correct" if i < right else "incorrect", "answerable": True,
             "metadata": {"slice": "easy", "shape": "seen"}} for i in range(10)] + \
        [{"id": f"u{i}", "verdict": "abstained", "answerable": False,
          "metadata": {"slice": "unanswerable", "shape": "seen"}} for i in range(2)]


def _run_dir(root: Path, name: str, seed: int | None, right_after: int) -> Path:
    run = root / name
    for stage, right in (("eval_before", 8), ("eval_after", right_after)):
        (run / stage).mkdir(parents=True)
        (run / stage / "metrics.json").write_text(json.dumps(compute_metrics(_rows(right))))
    if seed is not None:
        (run / "report.json").write_text(json.dumps({"config": {"seed": seed}, "wall_seconds": 1.0}))
    return run


def test_summarize_keeps_runs_of_one_seed_apart_and_names_unlabelled_ones(tmp_path):
    runs = [_run_dir(tmp_path, "a_s7", 7, 7), _run_dir(tmp_path, "b_s7", 7, 6),
            _run_dir(tmp_path, "re_s42", None, 8)]
    out = subprocess.run([sys.executable, str(SCRIPT), "--summarize", *map(str, runs), str(runs[2])],
                         capture_output=True, text=True, check=True).stdout
    header = next(line for line in out.splitlines() if line.startswith("figures by seed"))
    assert "seed 7" in header and "seed 7 (b_s7)" in header and "re_s42" in header and "re_s42 (re_s42)" in header
    assert "seed 0" not in out
    drops = next(line for line in out.splitlines() if "answerable accuracy drop (pts)" in line)
    assert drops.split()[4:8] == ["10.000", "20.000", "0.000", "0.000"]
    verdicts = next(line for line in out.splitlines() if "answerable accuracy drop (pts)" in line and "<=" in line)
    assert verdicts.split()[-11:] == ["10.000", "MISS", "20.000", "MISS", "0.000", "PASS", "0.000", "PASS", "2", "of", "4"]
    # these runs have no held-out-shape rows, so no seed meets the unseen-template target
    assert "every target but the stretch ones: 0 of 4 seeds" in out
