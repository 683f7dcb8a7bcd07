"""Resume keys: a launch stage is redone exactly when its own inputs change (its settings and the upstream
results it reads), never because an unrelated launch option changed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from rlwhf.cli.main import main
from rlwhf.launch import STAGES, StageRunner
from rlwhf.launch.stages import KEY_EXEMPT, resume_key


@dataclass
class _Inputs:
    text: str
    verbose: bool = field(default=False, metadata=KEY_EXEMPT)


@dataclass
class _Result:
    upper: str
    counts: dict


def _shout(inputs: _Inputs) -> _Result:
    _shout.calls += 1
    return _Result(upper=inputs.text.upper(), counts={"chars": len(inputs.text)})


def test_a_stage_is_skipped_for_the_same_key_and_its_result_comes_back_typed(tmp_path, capsys):
    _shout.calls = 0
    first = StageRunner(tmp_path, fresh=False).run("data", _shout, _Inputs("abc"))
    again = StageRunner(tmp_path, fresh=False).run("data", _shout, _Inputs("abc", verbose=True))
    assert _shout.calls == 1 and again == first == _Result("ABC", {"chars": 3})
    assert "[1/9] data: done in an earlier run, skipped" in capsys.readouterr().err
    marker = json.loads((tmp_path / "stages" / "data.json").read_text())
    assert marker["key"] == resume_key(_Inputs("abc")) and marker["result"] == {"upper": "ABC", "counts": {"chars": 3}}

    StageRunner(tmp_path, fresh=False).run("data", _shout, _Inputs("abd"))  # other inputs: redone
    StageRunner(tmp_path, fresh=True).run("data", _shout, _Inputs("abd"))  # --fresh: redone
    StageRunner(tmp_path, fresh=False).run("data", _shout, _Inputs("abd"), always=True)  # the report: always
    assert _shout.calls == 4

    # a marker whose result no longer fits the result type (another rlwhf version): redone, not crashed on
    marker = json.loads((tmp_path / "stages" / "data.json").read_text())
    marker["result"]["removed_field"] = 1
    (tmp_path / "stages" / "data.json").write_text(json.dumps(marker))
    assert StageRunner(tmp_path, fresh=False).run("data", _shout, _Inputs("abd")).upper == "ABD"
    assert _shout.calls == 5


def test_the_key_ignores_only_key_exempt_fields():
    assert resume_key(_Inputs("a")) == resume_key(_Inputs("a", verbose=True)) != resume_key(_Inputs("b"))


def _skipped(argv: list[str], capsys) -> set[str]:
    assert main(argv) == 0
    err = capsys.readouterr().err
    return {s for s in STAGES if f"] {s}: done in an earlier run, skipped" in err}


@pytest.mark.slow
def test_changing_one_option_redoes_only_the_stages_that_read_it(tmp_path, capsys, monkeypatch):
    """Four real launches on one output dir (embedded policy with 2 SFT steps, 1-2 GRPO steps, 4-6 held-out
    prompts): a new --eval-limit redoes the held-out prompts and both evaluations, a new --max-steps the plan,
    the training and what follows it, and so does a new $RLWHF_REWARD_SHAPING (the plan pins it)."""
    monkeypatch.delenv("RLWHF_REWARD_SHAPING", raising=False)
    out = tmp_path / "run"
    argv = ["launch", "--output_dir", str(out), "--tiny-sft-steps", "2", "--max-steps", "1"]
    assert _skipped([*argv, "--eval-limit", "4"], capsys) == set()

    # data writes the held-out prompts; its training files are unchanged, so reward and plan are not redone
    assert _skipped([*argv, "--eval-limit", "6"], capsys) == {"reward", "policy", "expert", "plan", "train"}
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["heldout_n"] == report["after"]["n"] == 6 and report["train"]["global_step"] == 1

    argv[-1] = "2"
    assert _skipped([*argv, "--eval-limit", "6"], capsys) == {"data", "reward", "policy", "expert", "eval_before"}
    report = json.loads((out / "report.json").read_text())
    assert report["train"]["global_step"] == 2 and report["plan"]["max_steps"] == 2
    assert report["config"]["max_steps"] == 2 and report["data"]["heldout_n"] == 6
    assert list(report["stage_seconds"]) == STAGES[:-1]
    assert report["reward_shaping"] is None

    monkeypatch.setenv("RLWHF_REWARD_SHAPING", '{"outcome_rewards": {"wrong": -1}}')
    assert _skipped([*argv, "--eval-limit", "6"], capsys) == {"data", "reward", "policy", "expert", "eval_before"}
    report = json.loads((out / "report.json").read_text())
    assert report["reward_shaping"] == {"outcome_rewards": {"wrong": -1.0}}
    assert 'GRPO reward shaping' in (out / "report.md").read_text()
