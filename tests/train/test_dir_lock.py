"""The output-dir lock (rlwhf.lockfile) with real processes: a second run refuses at once naming the
holder's pid; a lock left by a killed run (SIGKILL: no cleanup ran) is taken over; racing take-overs
of one stale lock have exactly one winner; `rlwhf launch` and `rlwhf train` both hold it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlwhf.lockfile import LOCK_NAME, DirInUse, dir_lock, process_start_time, read_holder

# A process that takes the lock, says so, and holds it until killed (or until stdin closes).
HOLDER = """
import sys, time
from rlwhf.lockfile import dir_lock
with dir_lock(sys.argv[1], "holder") as lock:
    print("held" + (" took-over" if lock.took_over else ""), flush=True)
    sys.stdin.read()
"""

# Racers wait for a go-file, then all try to take the same lock at once and report the outcome.
RACER = """
import os, sys, time
from pathlib import Path
from rlwhf.lockfile import dir_lock, DirInUse
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
try:
    with dir_lock(sys.argv[1], "racer"):
        print("won", flush=True)
        time.sleep(1.5)  # hold it while the others try
except DirInUse as exc:
    print("refused", exc.holder.get("pid"), flush=True)
"""


def _env() -> dict:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _start_holder(directory: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=_env())
    assert proc.stdout.readline().startswith("held")
    return proc


def test_second_process_refuses_naming_the_holder_then_takes_over_after_sigkill(tmp_path):
    holder = _start_holder(tmp_path)
    try:
        t0 = time.monotonic()
        with pytest.raises(DirInUse) as exc:
            dir_lock(tmp_path, "second").acquire()
        assert time.monotonic() - t0 < 2.0  # at once, no waiting for the holder
        assert f"pid {holder.pid}" in str(exc.value) and exc.value.exit_code == 2
        assert exc.value.holder["command"] == "holder"
    finally:
        holder.send_signal(signal.SIGKILL)  # no cleanup runs: the lock file stays behind
        holder.wait()
    assert read_holder(tmp_path / LOCK_NAME)["pid"] == holder.pid
    with dir_lock(tmp_path, "third") as lock:
        assert lock.took_over["pid"] == holder.pid
        assert read_holder(lock.path)["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_clean_exit_releases_the_lock(tmp_path):
    holder = _start_holder(tmp_path)
    holder.stdin.close()
    assert holder.wait(timeout=10) == 0
    assert not (tmp_path / LOCK_NAME).exists()
    with dir_lock(tmp_path) as lock:
        assert lock.took_over is None


def test_a_reused_pid_is_not_mistaken_for_the_holder(tmp_path):
    # The lock names a live process (our parent) but with another start time: the pid was reused.
    parent = os.getppid()
    (tmp_path / LOCK_NAME).write_text(json.dumps({
        "pid": parent, "host": socket.gethostname(), "start_time": process_start_time(parent) - 3600}))
    with dir_lock(tmp_path) as lock:
        assert lock.took_over["pid"] == parent


def test_a_live_holder_with_its_own_start_time_is_respected(tmp_path):
    parent = os.getppid()
    (tmp_path / LOCK_NAME).write_text(json.dumps({
        "pid": parent, "host": socket.gethostname(), "start_time": process_start_time(parent)}))
    with pytest.raises(DirInUse, match=f"pid {parent}"):
        dir_lock(tmp_path).acquire()


def test_another_hosts_lock_is_never_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere.invalid", "start_time": 0}))
    with pytest.raises(DirInUse, match="pid 1 on host elsewhere.invalid"):
        dir_lock(tmp_path).acquire()


def test_an_old_unreadable_lock_is_stale_a_fresh_one_is_not(tmp_path):
    lock = tmp_path / LOCK_NAME
    lock.write_text("")
    with pytest.raises(DirInUse):  # may be mid-creation: not taken over (it waits, then refuses)
        dir_lock(tmp_path).acquire()
    old = time.time() - 60
    os.utime(lock, (old, old))
    with dir_lock(tmp_path) as held:
        assert held.took_over == {}


def test_racing_takeovers_of_one_stale_lock_have_one_winner(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({
        "pid": dead.pid, "host": socket.gethostname(), "start_time": time.time() - 5}))
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path), str(go)],
                               stdout=subprocess.PIPE, text=True, env=_env()) for _ in range(5)]
    time.sleep(1.0)  # every racer is polling for the go-file
    go.touch()
    outcomes = [p.communicate(timeout=60)[0].split() for p in racers]
    winners = [o for o in outcomes if o[0] == "won"]
    assert len(winners) == 1, outcomes
    winner_pid = racers[[o[0] for o in outcomes].index("won")].pid
    assert all(o == ["refused", str(winner_pid)] for o in outcomes if o[0] != "won"), outcomes


def test_rlwhf_launch_refuses_a_dir_in_use(tmp_path):
    holder = _start_holder(tmp_path)
    try:
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "rlwhf", "launch", "--output_dir", str(tmp_path)],
                              capture_output=True, text=True, env=_env(), timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert f"in use by another rlwhf run: pid {holder.pid}" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / "stages").exists()  # refused before the first stage
        assert time.monotonic() - t0 < 60
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_two_rlwhf_train_processes_on_one_plan(tmp_path, fake_plan):
    # The first trains (slowly); the second, on the same output dir, refuses at once; the first finishes.
    plan = fake_plan(step_sleep=0.5, max_steps=4)
    first = subprocess.Popen([sys.executable, "-m", "rlwhf", "train", "--plan", str(plan), "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    lock = tmp_path / "out" / LOCK_NAME
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run([sys.executable, "-m", "rlwhf", "train", "--plan", str(plan)],
                            capture_output=True, text=True, env=_env(), timeout=60)
    out, err = first.communicate(timeout=120)
    assert second.returncode == 2, second.stderr
    assert f"pid {first.pid}" in second.stderr and "`rlwhf train`" in second.stderr
    assert first.returncode == 0, err
    assert json.loads(out)["global_step"] == 4
    assert not lock.exists()


@pytest.mark.slow
def test_taking_over_is_logged_v_adds_debug_lines_q_hides_info(tmp_path, fake_plan):
    # `rlwhf -v` shows the debug line of the fallback step; `rlwhf -q` hides the info line of the take-over.
    plan = fake_plan(oom_above_batch=4, max_steps=2, save_steps=1)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"pid": dead.pid, "host": socket.gethostname(), "start_time": 1.0}
    (out / LOCK_NAME).write_text(json.dumps(stale))
    verbose = subprocess.run([sys.executable, "-m", "rlwhf", "-v", "train", "--plan", str(plan)],
                             capture_output=True, text=True, env=_env(), timeout=300)
    assert verbose.returncode == 0, verbose.stderr
    assert f"taking over a stale lock of pid {dead.pid}" in verbose.stderr
    assert "fallback halve_batch: per_device_train_batch_size 8 -> 4" in verbose.stderr
    (out / LOCK_NAME).write_text(json.dumps(stale))
    quiet = subprocess.run([sys.executable, "-m", "rlwhf", "-q", "train", "--plan", str(plan)],
                           capture_output=True, text=True, env=_env(), timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert "taking over" not in quiet.stderr and "fallback halve_batch: per_device" not in quiet.stderr
    default = subprocess.run([sys.executable, "-m", "rlwhf", "train", "--plan", str(plan)],
                             capture_output=True, text=True, env=_env(), timeout=300)
    assert default.returncode == 0 and "fallback halve_batch: per_device" not in default.stderr


def test_a_folder_that_cannot_hold_a_lock_is_a_clear_error(tmp_path):
    from rlwhf.errors import RlwhfError

    blocker = tmp_path / "file"
    blocker.write_text("")  # a folder cannot be made below a file, not even by root
    with pytest.raises(RlwhfError, match="file/sub: cannot create the output folder"):
        dir_lock(blocker / "sub").acquire()
