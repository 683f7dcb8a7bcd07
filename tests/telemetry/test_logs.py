import json

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.telemetry.logs import (
    LogFollower,
    collect_steps,
    read_steps_csv,
    read_trainer_log,
    step_of,
    write_steps_csv,
)

SWIFT_STEP = {"loss": 0.1, "reward": 1.5, "reward_std": 0.5, "kl": 0.01, "step_time": 0.6,
              "global_step/max_steps": "2/4", "elapsed_time": "3s"}


def _write(path, records, tail=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return path


def test_step_numbers_from_swift_and_trl_records():
    assert step_of(SWIFT_STEP) == 2
    assert step_of({"loss": 0.2, "step": 7}) == 7
    assert step_of({"model_parameter_info": "Qwen2: 1M"}) is None
    assert step_of({"train_runtime": 3.0, "train_loss": 0.1, "global_step/max_steps": "4/4"}) is None


def test_a_truncated_last_line_is_skipped_but_a_bad_middle_line_is_an_error(tmp_path):
    log = _write(tmp_path / "v0" / "logging.jsonl", [SWIFT_STEP], tail='{"loss": 0.3, "glo')
    assert [r["step"] for r in read_trainer_log(log)] == [2]
    bad = tmp_path / "bad" / "logging.jsonl"
    bad.parent.mkdir()
    bad.write_text(json.dumps(SWIFT_STEP) + "\nnot json\n" + json.dumps(SWIFT_STEP) + "\n")
    with pytest.raises(RlwhfError, match=r"bad/logging.jsonl:2: invalid JSON"):
        read_trainer_log(bad)


def test_a_resumed_run_overrides_the_steps_it_repeated(tmp_path):
    first = [{"loss": 1.0, "reward": -1.0, "global_step/max_steps": f"{s}/4"} for s in (1, 2, 3)]
    second = [{"loss": 0.5, "reward": 1.0, "global_step/max_steps": f"{s}/4"} for s in (3, 4)]
    _write(tmp_path / "v0-a" / "logging.jsonl", first)
    import os
    import time

    later = _write(tmp_path / "v1-b" / "logging.jsonl", second)
    os.utime(later, (time.time() + 5, time.time() + 5))
    _write(tmp_path / "telemetry" / "logging.jsonl", second)  # never read: ours, not the trainer's
    steps = collect_steps(tmp_path)
    assert [(r["step"], r["reward"]) for r in steps] == [(1, -1.0), (2, -1.0), (3, 1.0), (4, 1.0)]


def test_steps_csv_round_trip_keeps_blanks_as_none(tmp_path):
    path = write_steps_csv([{**SWIFT_STEP, "step": 2}, {"loss": 0.7, "rewards/margins": 0.2, "step": 3}],
                           tmp_path / "steps.csv")
    rows = read_steps_csv(path)
    assert rows[0]["step"] == 2 and rows[0]["reward"] == 1.5 and rows[0]["kl"] == 0.01
    assert rows[1]["reward"] is None and rows[1]["dpo_reward_margin"] == 0.2


def test_the_follower_never_reads_half_a_line(tmp_path):
    log = tmp_path / "v0" / "logging.jsonl"
    log.parent.mkdir()
    follower = LogFollower(tmp_path)
    assert follower.poll() == []
    line = json.dumps(SWIFT_STEP) + "\n"
    log.write_text(line + line[:10])
    assert [r["step"] for r in follower.poll()] == [2]
    with open(log, "a") as fh:
        fh.write(line[10:] + json.dumps({"last_model_checkpoint": "ck"}) + "\n")
    assert [r["step"] for r in follower.poll()] == [2]
    assert follower.max_steps == 4 and follower.records[-1] == {"last_model_checkpoint": "ck"}
    assert follower.poll() == []


def test_the_follower_can_skip_an_earlier_run(tmp_path):
    _write(tmp_path / "v0" / "logging.jsonl", [SWIFT_STEP])
    follower = LogFollower(tmp_path)
    follower.skip_existing()
    assert follower.poll() == []
