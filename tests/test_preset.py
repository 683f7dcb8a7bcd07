"""The typed preset: every section checked on load, one place for the defaults, a content hash."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
import yaml

from rlwhf.errors import RlwhfError
from rlwhf.preset import (DEFAULT_ASSUMED_DEVICES, DEFAULT_MASTER_PORT, DEFAULT_NNODES, HONESTY_ORM, TEACHER_ORM,
                          TeacherSection, default_preset_path, load_preset)

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, data: dict) -> Path:
    path = tmp_path / "grpo_config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_shipped_preset_loads_typed():
    p = load_preset()
    assert p.path == default_preset_path()
    assert p.reward.name == HONESTY_ORM and p.reward.source == "judge" and p.reward.teacher.concurrency == 64
    assert p.profiles["multi_gpu"].nproc_per_node == "auto" and p.profiles["multi_gpu"].assumed_devices == 2
    assert p.profiles["multi_node"].node_profile == "multi_gpu" and p.profiles["multi_node"].nnodes == 2
    assert p.profiles["mps"].env == {"PYTORCH_ENABLE_MPS_FALLBACK": "1"}
    assert list(p.algo("grpo").args)[:3] == ["rlhf_type", "tuner_type", "output_dir"]  # the YAML's order
    assert p.algo("dpo").output_dir == "workspace/runs/dpo" and p.launch.cpu_seconds_per_step == 0.75


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["profiles"]["cpu"].update(nproc_per_node="two"),
     'profiles.cpu.nproc_per_node: expected an int or "auto", got \'two\''),
    (lambda d: d["data"].update(raw_log="x"), "data.raw_log: unknown key (known: raw_logs, "),
    (lambda d: d.update(extra=1), "extra: unknown key"),
    (lambda d: d["reward"]["teacher"].update(timeout="slow"), "reward.teacher.timeout: expected a number"),
    (lambda d: d["reward"]["teacher"].update(fallback="maybe"),
     'reward.teacher.fallback: expected "stop" or "judge", got \'maybe\''),
    (lambda d: d["launch"].pop("cpu_seconds_per_step"), "launch.cpu_seconds_per_step: missing"),
    (lambda d: d["profiles"]["multi_node"].update(nnodes=True), "profiles.multi_node.nnodes: expected an int"),
    (lambda d: d["profiles"]["multi_node"].update(node_profile="gpu9"), "profiles.multi_node.node_profile"),
    (lambda d: d["profiles"]["cpu"].update(env={"A": [1]}), "profiles.cpu.env.A: expected a string"),
    (lambda d: d["grpo"].update(top_k=[[0]]), "grpo.top_k: expected a value"),
    (lambda d: d.update(version=2), "version: this rlwhf reads preset version 1"),
])
def test_a_bad_key_or_type_is_one_line_naming_the_file_and_the_key_path(tmp_path, edit, message):
    data = load_preset().to_dict()
    edit(data)
    path = write(tmp_path, data)
    with pytest.raises(RlwhfError) as err:
        load_preset(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


def test_broken_yaml_is_one_line_with_the_line_number(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ndata:\n  processed: [unclosed\n")
    with pytest.raises(RlwhfError) as err:
        load_preset(path)
    assert str(err.value).startswith(f"{path}: line ") and "not valid YAML" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(RlwhfError, match="preset not found"):
        load_preset(tmp_path / "absent.yaml")


def test_defaults_where_the_preset_says_nothing(tmp_path):
    data = load_preset().to_dict()
    for key in ("nnodes", "master_port"):
        del data["profiles"]["multi_node"][key]
    del data["profiles"]["multi_gpu"]["assumed_devices"]
    del data["grpo"]["output_dir"]
    del data["launch"]
    p = load_preset(write(tmp_path, data))
    assert (p.profiles["multi_node"].nnodes, p.profiles["multi_node"].master_port) == (DEFAULT_NNODES,
                                                                                       DEFAULT_MASTER_PORT)
    assert p.profiles["multi_gpu"].assumed_devices == DEFAULT_ASSUMED_DEVICES
    assert p.algo("grpo").output_dir == "workspace/runs/grpo" and p.launch is None
    del data["dpo"]
    with pytest.raises(RlwhfError, match="no `dpo` section"):
        load_preset(write(tmp_path, data)).algo("dpo")


def test_sha256_follows_the_content_not_the_formatting(tmp_path):
    shipped = load_preset()
    data = shipped.to_dict()
    assert load_preset(write(tmp_path, data)).sha256 == shipped.sha256
    data["grpo"]["beta"] = 0.05
    assert load_preset(write(tmp_path, data)).sha256 != shipped.sha256


def test_the_teacher_section_is_a_subset_of_the_teacher_reward_config():
    from rlwhf.reward.teacher_reward import TeacherRewardConfig

    fields = {f.name for f in dataclasses.fields(TeacherRewardConfig)}
    assert {f.name for f in dataclasses.fields(TeacherSection)} <= fields


def test_the_orm_names_are_written_once():
    """"rlwhf_honesty" / "rlwhf_teacher" appear as literals only in rlwhf/preset.py among the Python sources."""
    found = subprocess.run(["grep", "-rln", "--include=*.py", "-e", f'"{HONESTY_ORM}"', "-e", f'"{TEACHER_ORM}"',
                            str(REPO / "src" / "rlwhf")], capture_output=True, text=True).stdout.split()
    assert [Path(f).name for f in found] == ["preset.py"]
