"""`rlwhf reward build|score|plugin-path` driven as real commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rlwhf.cli.main import main

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def test_plugin_path_prints_the_orm_file(capsys):
    assert main(["reward", "plugin-path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.name == "swift_plugin.py" and path.is_file()
    assert "orms[REWARD_NAME]" in path.read_text() and 'REWARD_NAME = "rlwhf_honesty"' in path.read_text()


def test_build_then_score(tmp_path, synth_logs, capsys):
    assert main(["reward", "build", "--dataset", str(synth_logs), "--output-dir", "rm", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "held-out learned model without" in out
    artifact = tmp_path / "rm" / "honesty_reward_model.json"
    assert artifact.is_file() and (tmp_path / "rm" / "metadata.json").is_file()

    rows = [
        {"prompt": "What is 36 + 27?", "answer": "The answer is 63.", "reference": "63", "answerable": True},
        {"prompt": "Who will be the mayor of Oslo in 2071?", "completion": "Nobody can know that."},
        {"prompt": "Who will be the mayor of Oslo in 2071?", "answer": "The answer is Mark Peta.", "answerable": False},
        {"prompt": "What is the capital of France?", "answer": [{"role": "assistant", "content": "I don't know."}],
         "reference": "Paris", "extra": {"kept": True}},
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["reward", "score", "--artifact", str(artifact), "--input", "in.jsonl", "--output", "out.jsonl"]) == 0
    got = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [g["grade"] for g in got] == [2, 2, -2, 0]
    assert all(isinstance(g["score"], float) and -2 <= g["score"] <= 2 for g in got)
    assert got[3]["extra"] == {"kept": True} and got[1]["completion"] == "Nobody can know that."


def test_score_without_artifact_uses_the_judge(tmp_path, monkeypatch):
    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    (tmp_path / "in.jsonl").write_text(json.dumps({"prompt": "What is 2 + 2?", "answer": "4", "reference": "4"}) + "\n")
    assert main(["reward", "score", "--input", "in.jsonl", "--output", "out.jsonl"]) == 0
    assert json.loads((tmp_path / "out.jsonl").read_text())["grade"] == 2


def test_score_reads_the_closed_world_mark(tmp_path, monkeypatch):
    """Top level or in metadata (as the built-in corpus writes it); a non-object metadata is no error."""
    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    row = {"prompt": "What is the capital of France?", "answer": "The answer is Paris. This was confirmed in 1952.",
           "reference": "Paris"}
    rows = [row, {**row, "closed_world": True}, {**row, "metadata": {"style": "extra_detail", "closed_world": True}},
            {**row, "metadata": "odd"}, {**row, "metadata": {"closed_world": "yes"}}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["reward", "score", "--input", "in.jsonl", "--output", "out.jsonl"]) == 0
    got = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [g["grade"] for g in got] == [1, -1, -1, 1, 1]  # only JSON true closes the world
    assert got[3]["metadata"] == "odd"


def test_bad_input_names_file_line_and_rule(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text('{"prompt": "Q", "answer": "A"}\n{"prompt": "Q"}\n')
    assert main(["reward", "score", "--input", "in.jsonl", "--output", "out.jsonl"]) == 2
    assert "in.jsonl:2: no answer" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()  # no partial output
    (tmp_path / "bad.jsonl").write_text('{"prompt": "Q", "answer": "A"}\n{"prompt": \n')
    assert main(["reward", "score", "--input", "bad.jsonl", "--output", "out.jsonl"]) == 2
    assert "bad.jsonl:2: invalid JSON" in capsys.readouterr().err
    assert main(["reward", "score", "--input", "missing.jsonl", "--output", "out.jsonl"]) == 2
    (tmp_path / "fake.json").write_text("{}")
    (tmp_path / "in2.jsonl").write_text('{"prompt": "Q", "answer": "A"}\n')
    assert main(["reward", "score", "--artifact", "fake.json", "--input", "in2.jsonl", "--output", "o.jsonl"]) == 2
    assert "not an rlwhf honesty reward artifact" in capsys.readouterr().err


def test_reward_commands_never_import_torch(tmp_path):
    (tmp_path / "in.jsonl").write_text(json.dumps({"prompt": "Q?", "answer": "I don't know."}) + "\n")
    code = (
        "import sys\n"
        "from rlwhf.cli.main import main\n"
        "rc = main(['reward', 'score', '--input', 'in.jsonl', '--output', 'out.jsonl'])\n"
        "assert rc == 0, rc\n"
        "bad = sorted(m for m in ('torch', 'transformers', 'swift', 'trl', 'numpy') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
