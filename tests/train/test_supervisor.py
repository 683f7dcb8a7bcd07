import signal
import sys

from rlwhf.telemetry.logs import LogFollower
from rlwhf.telemetry.memory import MemoryTrace, read_memory_csv
from rlwhf.train.supervisor import classify, run_attempt


def test_classify_reads_exit_status_and_log():
    assert classify(0, "", False) == ("ok", "finished")
    assert classify(1, "x\nRuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB\n", False)[0] == "oom"
    assert classify(1, "RuntimeError: MPS backend out of memory (MPS allocated: 1 GB)", False)[0] == "oom"
    assert classify(1, "RuntimeError: [enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: "
                       "can't allocate memory: you tried to allocate 123 bytes", False)[0] == "oom"
    assert classify(-signal.SIGKILL, "", False)[0] == "killed"
    assert classify(137, "", False)[0] == "killed"
    assert classify(247, "", False)[0] == "killed"  # `swift` CLI: sys.exit(child's -9)
    assert classify(1, "exitcode  : -9 (pid: 77)\n  error_file: <N/A>\n  traceback : Signal 9 (SIGKILL) "
                       "received by PID 77", False)[0] == "killed"  # torchrun
    assert classify(-signal.SIGKILL, "", True)[0] == "rss_cap"
    assert classify(2, "ValueError: unknown flag --max-stepz", False) == ("error", "exit status 2")


def _run(tmp_path, code, cap=None):
    trace = MemoryTrace(tmp_path / "memory.csv")
    seen = []
    result = run_attempt([sys.executable, "-c", code], {}, tmp_path / "attempt.log", trace,
                         LogFollower(tmp_path / "out"), seen.extend, attempt=1, max_rss_bytes=cap, interval=0.1)
    trace.close()
    return result, read_memory_csv(tmp_path / "memory.csv")


def test_the_rss_cap_kills_the_whole_tree_and_reports_it(tmp_path):
    # A child that spawns a grandchild; the grandchild grows past the cap.
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time; b = bytearray(b\"x\" * (400 * 2**20)); time.sleep(60)'])")
    result, samples = _run(tmp_path, code, cap=300 * 2**20)
    assert result.reason == "rss_cap" and result.out_of_memory
    assert result.wall_s < 30  # killed, not waited out
    assert result.peak_rss_mb > 300
    assert max(s["processes"] for s in samples) >= 2  # the grandchild was counted


def test_an_ordinary_failure_is_not_out_of_memory(tmp_path):
    result, _ = _run(tmp_path, "raise SystemExit('boom')")
    assert result.reason == "error" and not result.out_of_memory
    assert "boom" in result.log_path.read_text()
