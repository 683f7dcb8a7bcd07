"""plugins/experimental/grok_search_evaluator: a Transformer Lab shim over `rlwhf evaluate`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.integrations.tlab_evaluator import config_from_params, index_json, main

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
    # One source of truth: regenerate with `python -c "from rlwhf.integrations.tlab_evaluator import index_json; ..."`.
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


def test_use_internet_needs_web_search_or_a_passage_index(tmp_path, capsys):
    """use_internet: the online teacher gets the Responses API web_search tool (tests/teacher/
    test_teacher_web_search.py runs it against a loopback server); other teachers need search_corpus."""
    cfg = config_from_params({"answers": "a", "output_dir": "o", "teacher": "openai", "use_internet": "true"})
    assert cfg.teacher == "rlwhf.teacher.web_search:WebSearchTeacher" and not cfg.request_extra
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"prompt": "Q0: what?", "answer": "x"}) + "\n")
    assert main(["--answers", str(answers), "--output_dir", "o", "--use_internet", "true"]) == 2
    err = capsys.readouterr().err
    assert "use_internet with the offline teacher" in err and "search_corpus" in err and "Responses API" in err
    with pytest.raises(RlwhfError, match="Live Search is retired"):
        config_from_params({"answers": "a", "output_dir": "o", "teacher": "openai", "use_internet": "true",
                            "request_extra": '{"search_parameters": {"mode": "auto"}}'})
    corpus = tmp_path / "p.jsonl"
    corpus.write_text(json.dumps({"id": "p1", "text": "Paris is the capital of France."}) + "\n")
    cfg = config_from_params({"answers": "a", "output_dir": "o", "use_internet": "true",
                              "search_corpus": str(corpus)})
    assert cfg.teacher == "offline" and cfg.search_corpus == str(corpus)


def test_parameter_errors_are_named():
    with pytest.raises(RlwhfError, match="unknown plugin parameter"):
        config_from_params({"answers": "a", "output_dir": "o", "no_such_knob": "1"})
    with pytest.raises(RlwhfError, match="concurrency"):
        config_from_params({"answers": "a", "output_dir": "o", "concurrency": "many"})
    cfg = config_from_params({"answers": "a", "output_dir": "o", "enable_dpo_reward": "True", "timeout": "2.5"})
    assert cfg.enable_dpo_reward is True and cfg.timeout == 2.5
