"""Every `plugins/**/index.json` against Transformer Lab's legacy plugin schema, and the honesty reward
plugin's own files (its parameters must be the reward stage's config, its task.yaml the newer format)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
INDEXES = sorted((REPO / "plugins").rglob("index.json"))

# transformerlab-api test/plugins/plugin.schema.json (the legacy plugin format).
REQUIRED = ["name", "uniqueId", "description", "plugin-format", "type", "version", "files", "setup-script",
            "supported_hardware_architectures"]
TYPES = {"loader", "trainer", "evaluator", "generator", "eval", "exporter", "rag"}
HARDWARE = {"cuda", "mlx", "cpu", "amd"}
STRINGS = ["name", "uniqueId", "description", "plugin-format", "type", "version", "setup-script"]
PARAM_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}


def schema_errors(doc) -> list[str]:
    """Violations of the legacy schema (and of what its loader relies on: listed files exist)."""
    if not isinstance(doc, dict):
        return ["the document must be a JSON object"]
    errs = [f"missing required field {k!r}" for k in REQUIRED if k not in doc]
    errs += [f"{k!r} must be a string" for k in STRINGS if k in doc and not isinstance(doc[k], str)]
    if doc.get("type") not in TYPES:
        errs.append(f"type {doc.get('type')!r} is not one of {sorted(TYPES)}")
    for key in ("files", "model_architectures", "supported_hardware_architectures"):
        if key in doc and (not isinstance(doc[key], list) or not all(isinstance(x, str) for x in doc[key])):
            errs.append(f"{key!r} must be a list of strings")
    bad_hw = [h for h in doc.get("supported_hardware_architectures") or [] if h not in HARDWARE]
    if bad_hw:
        errs.append(f"supported_hardware_architectures has unknown {bad_hw} (allowed: {sorted(HARDWARE)})")
    for key in ("parameters", "parameters_ui"):
        if key in doc and not isinstance(doc[key], dict):
            errs.append(f"{key!r} must be an object")
    for name, spec in (doc.get("parameters") or {}).items() if isinstance(doc.get("parameters"), dict) else ():
        if not isinstance(spec, dict):
            errs.append(f"parameter {name!r} must be an object")
            continue
        typ = spec.get("type")
        if typ not in PARAM_TYPES:
            errs.append(f"parameter {name!r}: type {typ!r} is not a JSON-schema type")
        elif "default" in spec and not (isinstance(spec["default"], PARAM_TYPES[typ])
                                        and not (typ in ("integer", "number") and isinstance(spec["default"], bool))):
            errs.append(f"parameter {name!r}: default {spec['default']!r} is not a {typ}")
        if "enum" in spec and "default" in spec and spec["default"] not in spec["enum"]:
            errs.append(f"parameter {name!r}: default is not one of its enum")
    return errs


def test_there_are_plugins_to_check():
    assert any(p.parent.name == "custom_honesty_rm" for p in INDEXES)


@pytest.mark.parametrize("index", INDEXES, ids=lambda p: str(p.relative_to(REPO)))
def test_index_json_follows_the_legacy_schema(index):
    doc = json.loads(index.read_text(encoding="utf-8"))
    assert schema_errors(doc) == []
    for name in doc["files"]:
        assert (index.parent / name).is_file(), f"{index}: listed file {name} is missing"
    assert (index.parent / doc["setup-script"]).is_file(), f"{index}: setup-script {doc['setup-script']} is missing"
    assert (index.parent / "main.py").is_file() or any(f.endswith(".py") for f in doc["files"])


def test_the_validator_catches_what_the_schema_forbids():
    good = json.loads((REPO / "plugins/core/custom_honesty_rm/index.json").read_text())
    assert schema_errors(good) == []
    assert "missing required field 'uniqueId'" in schema_errors({k: v for k, v in good.items() if k != "uniqueId"})
    assert any("type 'reward'" in e for e in schema_errors({**good, "type": "reward"}))
    assert any("unknown ['tpu']" in e for e in schema_errors({**good, "supported_hardware_architectures": ["tpu"]}))
    assert any("'files' must be" in e for e in schema_errors({**good, "files": "main.py"}))
    bad_param = {**good, "parameters": {"epochs": {"type": "integer", "default": "six"}}}
    assert any("not a integer" in e for e in schema_errors(bad_param))
    assert schema_errors([]) == ["the document must be a JSON object"]


def test_honesty_rm_parameters_are_the_reward_config():
    """index.json (older installs) and task.yaml (today's task format) both carry the reward stage's config."""
    from rlwhf.preset import load_preset
    from rlwhf.reward.learned import RewardBuildConfig

    plugin = REPO / "plugins/core/custom_honesty_rm"
    params = json.loads((plugin / "index.json").read_text())["parameters"]
    task = yaml.safe_load((plugin / "task.yaml").read_text())
    preset = load_preset()
    hints = typing.get_type_hints(RewardBuildConfig)
    for f in dataclasses.fields(RewardBuildConfig):
        assert params[f.name]["default"] == f.default, f.name
        assert params[f.name]["type"] == {int: "integer", float: "number"}[hints[f.name]]
        assert task["parameters"][f.name] == f.default
    assert params["dataset"]["default"] == preset.data.raw_logs
    assert task["parameters"]["dataset"] == ""  # in a job: the built-in corpus unless a file is given
    assert params["output_dir"]["default"] == task["parameters"]["output_dir"] == preset.reward.artifact_dir
    assert {"name", "resources", "setup", "run", "parameters"} <= set(task)
    assert "task.yaml" in json.loads((plugin / "index.json").read_text())["files"]


def test_main_builds_into_the_preset_folder(tmp_path):
    """`python3 -m plugins.core.custom_honesty_rm.main` from a checkout: preset paths, relative to the cwd."""
    from rlwhf.preset import load_preset

    preset = load_preset()
    logs = tmp_path / preset.data.raw_logs
    logs.parent.mkdir(parents=True)
    logs.write_bytes((REPO / preset.data.raw_logs).read_bytes())
    env = {"PYTHONPATH": f"{REPO}:{REPO / 'src'}", "PATH": "/usr/bin:/bin"}  # no Transformer Lab job here
    run = subprocess.run([sys.executable, "-m", "plugins.core.custom_honesty_rm.main", "--epochs", "2"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / preset.reward.artifact).is_file()
    assert "wrote" in run.stdout

    logs.unlink()
    run = subprocess.run([sys.executable, "-m", "plugins.core.custom_honesty_rm.main"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "not found" in run.stderr and "rlwhf data synth --output" in run.stderr and "Traceback" not in run.stderr
