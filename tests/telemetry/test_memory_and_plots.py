import os
import subprocess
import sys
import time

from rlwhf.telemetry import (
    MemoryTrace,
    kill_tree,
    plot_memory_trace,
    plot_reward_curve,
    read_memory_csv,
    tree_rss,
    versions,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_tree_rss_counts_grandchildren_and_kill_tree_ends_them_all(tmp_path):
    ready = tmp_path / "ready"
    code = (f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
            f"'b = bytearray(b\"x\" * (150 * 2**20)); open(r\"{ready}\", \"w\").close(); import time; time.sleep(60)']);"
            " import time; time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        rss, pids = tree_rss(proc.pid)
        assert len(pids) == 2 and rss > 150 * 2**20
        kill_tree(proc.pid)
        assert proc.wait(timeout=10) == -9
        for pid in pids[1:]:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            assert not _alive(pid)
    finally:
        kill_tree(proc.pid)
    assert tree_rss(proc.pid) == (0, [])


def _alive(pid):
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_memory_trace_appends_samples_and_keeps_the_peak(tmp_path):
    # A process of its own: the test runner may hold children of its own (session servers) by now.
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(20 << 20); time.sleep(60)"])
    try:
        time.sleep(0.5)
        trace = MemoryTrace(tmp_path / "memory.csv")
        trace.sample(child.pid, attempt=1)
        trace.sample(child.pid, attempt=2)
        trace.close()
    finally:
        child.kill()
        child.wait()
    rows = read_memory_csv(tmp_path / "memory.csv")
    assert [r["attempt"] for r in rows] == [1, 2]
    assert rows[0]["rss_mb"] > 10 and rows[0]["processes"] == 1
    assert abs(trace.peak_rss_mb - max(r["rss_mb"] for r in rows)) < 0.06  # CSV keeps 0.1 MB
    # A second trace on the same file (a resumed run) appends under the one header.
    again = MemoryTrace(tmp_path / "memory.csv")
    again.sample(os.getpid(), attempt=3)
    again.close()
    rows = read_memory_csv(tmp_path / "memory.csv")
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    assert rows[2]["time_s"] >= rows[1]["time_s"]  # its clock continues


def test_plots_are_pngs_for_grpo_dpo_and_empty_runs(tmp_path):
    grpo = [{"step": s, "reward": -1 + s * 0.3, "reward_std": 0.4, "loss": 0.1} for s in range(1, 6)]
    dpo = [{"step": s, "reward": None, "dpo_reward_margin": 0.1 * s, "loss": 0.69} for s in range(1, 4)]
    memory = [{"time_s": t * 0.5, "attempt": 1 if t < 5 else 2, "rss_mb": 100.0 + t, "gpu_mb": None,
               "processes": 1} for t in range(10)]
    for path in (plot_reward_curve(grpo, tmp_path / "g.png"), plot_reward_curve(dpo, tmp_path / "d.png"),
                 plot_reward_curve([], tmp_path / "e.png"), plot_memory_trace(memory, tmp_path / "m.png"),
                 plot_memory_trace([], tmp_path / "m0.png")):
        data = path.read_bytes()
        assert data[:8] == PNG and len(data) > 5000


def test_telemetry_and_versions_stay_light():
    # In a fresh interpreter: the supervisor imports telemetry, and must not pull in torch or matplotlib.
    code = ("import sys; from rlwhf.telemetry import versions; info = versions(); "
            "print(info['rlwhf'], info['python'], 'torch' in sys.modules, 'matplotlib' in sys.modules, "
            "'trl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] != "None" and out[1].startswith("3.")
    assert out[2:] == ["False", "False", "False"]


def test_gpu_memory_is_read_per_process_tree_from_nvidia_smi(tmp_path, monkeypatch):
    # No GPU here: a stand-in nvidia-smi prints what the real one prints for these queries.
    from rlwhf.telemetry.memory import GpuProbe

    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\ncase "$1" in\n'
                   '  --query-compute-apps=*) printf "%s, 1234\\n999999, 50\\n" "$MY_PID" ;;\n'
                   '  --query-gpu=*) printf "5000\\n3000\\n" ;;\nesac\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MY_PID", str(os.getpid()))
    probe = GpuProbe()
    assert probe.available
    assert probe.used_mb([os.getpid()]) == 1234 and probe.scope == "process_tree"
    # A pid namespace can hide our pids from the driver: then the devices' total is what is known.
    assert probe.used_mb([12345678]) == 8000 and probe.scope == "device_total"
    trace = MemoryTrace(tmp_path / "memory.csv")
    trace.sample(os.getpid())
    trace.close()
    assert read_memory_csv(tmp_path / "memory.csv")[0]["gpu_mb"] == 1234
    assert trace.peak_gpu_mb == 1234 and trace.gpu_scope == "process_tree"
