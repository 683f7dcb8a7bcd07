"""plugins/experimental/grok_search_evaluator: a Transformer Lab shim over `rlwhf evaluate`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _teacher_server import FlakyServer

from rlwhf.errors import RlwhfError
from rlwhf.evaluate.tlab import config_from_params, index_json, main

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "experimental" / "grok_search_evaluator"


def test_index_json_is_the_legacy_schema_and_derived_from_the_config():
    index = json.loads((PLUGIN / "index.json").read_text())
    for key in ("name", "uniqueId", "description", "plugin-format", "type", "version", "files", "setup-script",
                "supported_hardware_architectures", "parameters"):
        assert key in index, key
    assert index["type"] == "evaluator" and index["plugin-format"] == "python"
    for name in index["files"] + [index["setup-script"]]:
        assert (PLUGIN / name).is_file(), name
    for name in ("enable_dpo_reward", "use_internet", "teacher_model", "base_url", "api_key_env"):
        assert name in index["parameters"], name
    for spec in index["parameters"].values():
        assert spec["type"] in ("string", "integer", "number", "boolean") and spec["title"]
    # One source of truth: regenerate with `python -c "from rlwhf.evaluate.tlab import index_json; ..."`.
    assert index == json.loads(json.dumps(index_json()))


def test_shim_runs_from_the_repo_root(tmp_path):
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"prompt": "What is 2 + 2?", "answer": "The answer is 4.", "reference": "4",
                                   "answerable": True}) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "plugins.experimental.grok_search_evaluator.main", "--answers", str(answers),
         "--output_dir", str(tmp_path / "out"), "--enable_dpo_reward", "false", "--experiment_name", "x"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ignored_args"] == ["--experiment_name", "x"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n"] == 1 and metrics["accuracy"] == 1.0


def test_use_internet_turns_on_the_teacher_search(tmp_path, capsys):
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"prompt": "Q0: what?", "answer": "x"}) + "\n")
    with FlakyServer(script=lambda i: ["good"]) as server:
        assert main(["--answers", str(answers), "--output_dir", str(tmp_path / "o"), "--teacher", "openai",
                     "--base_url", server.url, "--use_internet", "true", "--cache", str(tmp_path / "c.sqlite")]) == 0
        assert server.bodies[0]["search_parameters"] == {"mode": "auto"}
    capsys.readouterr()
    assert main(["--answers", str(answers), "--output_dir", "o", "--use_internet", "true"]) == 2
    assert "needs an online teacher" in capsys.readouterr().err


def test_parameter_errors_are_named():
    with pytest.raises(RlwhfError, match="unknown plugin parameter"):
        config_from_params({"answers": "a", "output_dir": "o", "no_such_knob": "1"})
    with pytest.raises(RlwhfError, match="concurrency"):
        config_from_params({"answers": "a", "output_dir": "o", "concurrency": "many"})
    cfg = config_from_params({"answers": "a", "output_dir": "o", "enable_dpo_reward": "True", "timeout": "2.5"})
    assert cfg.enable_dpo_reward is True and cfg.timeout == 2.5


def test_inside_transformer_lab_params_come_from_tlab_evals(tmp_path, monkeypatch, capsys):
    import types

    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"id": "q1", "prompt": "What is 2 + 2?", "answer": "The answer is 4.",
                                   "reference": "4", "answerable": True}) + "\n")
    logged, saved, wrapped = {}, [], []

    class FakeEvals:
        params = {"answers": str(answers), "output_dir": str(tmp_path / "o"), "concurrency": "2",
                  "experiment_name": "exp", "model_name": "some/hub-model"}

        def job_wrapper(self, **kw):
            def deco(fn):
                def inner():
                    wrapped.append(kw)
                    return fn()
                return inner
            return deco

        def progress_update(self, p):
            pass

        def log_metric(self, name, value):
            logged[name] = value

        def save_evaluation_results(self, df):
            saved.append(df)

    fake = types.ModuleType("transformerlab.sdk.v1.evals")
    fake.tlab_evals = FakeEvals()
    for name in ("transformerlab", "transformerlab.sdk", "transformerlab.sdk.v1"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "transformerlab.sdk.v1.evals", fake)
    assert main([]) == 0
    assert wrapped == [{"manual_logging": True}]
    assert logged["accuracy"] == 1.0 and logged["n"] == 1
    assert json.loads(capsys.readouterr().out)["ignored_args"] == ["experiment_name", "model_name"]
    assert list(saved[0]["score"]) == [2] and list(saved[0]["test_case_id"]) == ["q1"]  # per-row grades
    FakeEvals.params = {**FakeEvals.params, "concurrency": "many"}
    assert main([]) == 2
