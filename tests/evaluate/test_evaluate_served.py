"""The real student server: `swift deploy` serving the tiny policy on CPU on a loopback port (started once
for this module, stopped by its pid). Served answers match local generation of the same checkpoint (greedy,
with and without a system prompt); a wrong model name is one line; and the loop goes around once:
served policy -> `rlwhf collect` with a rubric-grading loopback teacher -> `rlwhf data gate` -> `rlwhf launch`."""

import json
from pathlib import Path

import pytest
from _loopback_teacher import LoopbackTeacher
from _swift_student import SwiftStudent, swift_executable

from rlwhf.cli.main import main

# One `swift deploy` server for the module: pytest-xdist keeps the module on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.xdist_group("swift_student")]


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def policy(tiny_model_dir, tmp_path_factory):
    """The tiny policy with its weights redrawn at a larger scale: the untrained one answers every prompt with
    an immediate end of turn, which would make "served == local" trivially true. This one writes a different
    token string for every prompt (seconds, no training)."""
    import torch
    import transformers

    out = tmp_path_factory.mktemp("policy") / "noisy"
    model = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    from rlwhf.policy.tiny import save  # weights, tokenizer and rlwhf_model.json (model_type for ms-swift)

    return save(model, transformers.AutoTokenizer.from_pretrained(str(tiny_model_dir)), out, {"noisy": 0.3})


@pytest.fixture(scope="module")
def student(policy, tmp_path_factory):
    if swift_executable() is None:
        pytest.skip("needs ms-swift (pip install -r requirements.txt)")
    with SwiftStudent(policy, tmp_path_factory.mktemp("deploy") / "deploy.log") as server:
        yield server


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    from rlwhf.data.synth import prompts

    rows = prompts("heldout")
    picked = [r for r in rows if r["answerable"]][:10] + [r for r in rows if not r["answerable"]][:6]
    path = tmp_path_factory.mktemp("heldout") / "heldout.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in picked))
    return path


@pytest.mark.parametrize("system", [None, "You are a careful assistant. Say when you do not know."])
def test_served_answers_match_local_generation(student, policy, heldout, system):
    import transformers

    extra = ["--max-new-tokens", "12"] + (["--system-prompt", system] if system else [])
    assert main(["evaluate", "--student-base-url", student.url, "--student-model", student.model, "--prompts",
                 str(heldout), "--output-dir", "served", "--concurrency", "4", *extra]) in (0, 1)
    assert main(["evaluate", "--model", str(policy), "--prompts", str(heldout), "--output-dir", "local",
                 *extra]) == 0
    served, local = read_jsonl("served/answers.jsonl"), read_jsonl("local/answers.jsonl")
    assert [r["id"] for r in served] == [r["id"] for r in local]
    assert len({r["answer"] for r in local}) > len(local) // 2  # a real comparison, not 16 empty strings
    # ms-swift's deploy decodes without skipping special tokens (a stray <|im_start|> stays in the text);
    # local generation skips them, as vLLM does by default. That is the only difference allowed.
    specials = transformers.AutoTokenizer.from_pretrained(str(policy)).all_special_tokens

    def plain(text):
        for tok in specials:
            text = text.replace(tok, "")
        return text.strip()

    assert [plain(r["answer"]) for r in served] == [r["answer"] for r in local]
    # an empty greedy answer is an error row when served (nothing to grade) and a -2 locally: the same text
    graded = [(s["verdict"], l_["verdict"]) for s, l_ in zip(served, local) if s["verdict"] != "error"]
    assert graded and all(a == b for a, b in graded)


def test_a_model_name_the_server_does_not_serve_is_one_line(student, heldout, capsys):
    assert main(["evaluate", "--student-base-url", student.url, "--student-model", "gpt-9", "--prompts",
                 str(heldout), "--output-dir", "o"]) == 2
    err = capsys.readouterr().err
    assert "does not serve model 'gpt-9'" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("rlwhf: error")]) == 1


def test_the_loop_served_policy_collect_gate_launch(student, policy, heldout, capsys):
    with LoopbackTeacher() as teacher:
        rc = main(["collect", "--student-base-url", student.url, "--student-model", student.model,
                   "--prompts", str(heldout), "--n-samples", "2", "--temperature", "1.0", "--seed", "3",
                   "--max-new-tokens", "12", "--teacher", "openai", "--base-url", teacher.url,
                   "--teacher-model", "rubric-judge", "--output-dir", "collect"])
        assert teacher.requests > 0
    assert rc in (0, 1)  # 1 only when a sampled completion came back empty (counted, not in the logs)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    logs = read_jsonl("collect/honesty_logs.jsonl")
    assert summary["written"] == len(logs) > 0
    metrics = json.loads(Path("collect/metrics.json").read_text())
    info = metrics["honesty_logs"]
    assert info["written"] + info["error_rows"] + info["duplicates_merged"] + info["empty_answers"] == 32
    assert metrics["teacher"]["name"] == "openai" and metrics["student"]["n"] == 2
    for row in logs:
        assert row["reward"] in (-2, -1, 0, 1, 2) and row["answer"].strip()
        assert row["metadata"]["student"] == "student" and row["metadata"]["teacher"] == "rubric-judge"

    # the gate accepts them as they are
    assert main(["data", "gate", "collect/honesty_logs.jsonl", "--report", "gate.json"]) == 0
    gate = json.loads(Path("gate.json").read_text())
    assert (gate["total"], gate["valid"], gate["invalid"]) == (len(logs), len(logs), 0)

    # and the next round trains on them (a reduced launch: one GRPO step, 8 held-out prompts)
    assert main(["launch", "--dataset_path", "collect/honesty_logs.jsonl", "--model", str(policy),
                 "--max-steps", "1", "--eval-limit", "8", "--output_dir", "loop"]) == 0
    report = json.loads(Path("loop/report.json").read_text())
    assert report["before"]["n"] + report["before"].get("errors", 0) == 8 and "accuracy" in report["after"]
    data_stage = json.loads(Path("loop/stages/data.json").read_text())["result"]
    assert data_stage["gate"]["valid"] == len(logs)
