"""docs/evaluate-benchmarks.md: the offline commands it shows run as written (from a scratch folder with the
test assets linked in); the served ones are run by test_evaluate_served.py and test_evaluate_student.py."""

import json
import shlex
from pathlib import Path

from rlwhf.cli.main import main

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "evaluate-benchmarks.md"


def test_offline_doc_commands_run(tmp_path, monkeypatch):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "assets").symlink_to(REPO / "tests" / "assets")
    monkeypatch.chdir(tmp_path)
    commands = [line for line in DOC.read_text().splitlines() if line.startswith("rlwhf evaluate --answers tests/")]
    assert commands
    for line in commands:
        argv = shlex.split(line)[1:]
        assert main(argv) == 0, line
        out = Path(argv[argv.index("--output-dir") + 1])
        metrics = json.loads((out / "metrics.json").read_text())
        # the reference answers themselves, graded against the answer key: all correct
        assert metrics["by_benchmark"]["truthfulqa"]["accuracy"] == 1.0
