"""Memory telemetry: process-tree RSS (psutil) and GPU memory (NVML or nvidia-smi), sampled.

No torch import: the supervisor that samples must stay light, and importing torch would give the
parent its own CUDA context.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MEMORY_COLUMNS = ["time_s", "attempt", "rss_mb", "gpu_mb", "processes"]
_MB = 1024 * 1024


def tree_rss(pid: int) -> tuple[int, list[int]]:
    """(summed RSS in bytes, pids) of a process and all its descendants; (0, []) once it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, []
    total, pids = 0, []
    for proc in procs:
        try:
            total += proc.memory_info().rss
            pids.append(proc.pid)
        except psutil.Error:
            continue  # exited between listing and reading
    return total, pids


def kill_tree(pid: int, sig: int | None = None) -> None:
    """Kill a process and every descendant (children first, so none is re-parented and missed)."""
    import signal

    import psutil

    sig = signal.SIGKILL if sig is None else sig
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


class GpuProbe:
    """GPU memory used by a set of pids: NVML when installed, else `nvidia-smi`, else nothing.

    Inside a container the driver may report host pids that match none of ours; then the probe falls
    back to the devices' total used memory (`scope` says which one was measured).
    """

    def __init__(self):
        self._nvml = None
        self._smi = None
        self.scope = None
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            self._nvml = pynvml
            self.scope = "process_tree"
        except Exception:  # noqa: BLE001 - absent library or driver both mean "no NVML"
            self._smi = shutil.which("nvidia-smi")
            if self._smi:
                self.scope = "process_tree"

    @property
    def available(self) -> bool:
        return self._nvml is not None or self._smi is not None

    def used_mb(self, pids: list[int]) -> float | None:
        if self._nvml is not None:
            return self._nvml_used(set(pids))
        if self._smi is not None:
            return self._smi_used(set(pids))
        return None

    def _nvml_used(self, pids: set[int]) -> float | None:
        nv = self._nvml
        mine, total = 0, 0
        for i in range(nv.nvmlDeviceGetCount()):
            handle = nv.nvmlDeviceGetHandleByIndex(i)
            total += nv.nvmlDeviceGetMemoryInfo(handle).used
            for proc in nv.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid in pids and proc.usedGpuMemory:
                    mine += proc.usedGpuMemory
        return self._pick(mine, total)

    def _smi_used(self, pids: set[int]) -> float | None:
        try:
            apps = subprocess.run(
                [self._smi, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=5,
            ).stdout
            devices = subprocess.run(
                [self._smi, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=5,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        mine = 0.0
        for line in apps.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) in pids:
                mine += _float(parts[1]) * _MB
        total = sum(_float(x) for x in devices.split()) * _MB
        return self._pick(mine, total)

    def _pick(self, mine: float, total: float) -> float:
        if mine:
            self.scope = "process_tree"
            return mine / _MB
        self.scope = "device_total"
        return total / _MB


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


@dataclass
class MemoryTrace:
    """Samples of one process tree, appended to a CSV as they are taken; keeps the peaks.

    `gpu_every` takes the GPU reading every n-th sample only: nvidia-smi costs ~50 ms a call.
    """

    csv_path: Path
    t0: float = field(default_factory=time.monotonic)
    gpu_every: int = 4
    peak_rss_mb: float = 0.0
    peak_gpu_mb: float | None = None
    samples: int = 0
    _gpu: GpuProbe | None = None

    def __post_init__(self):
        self.csv_path = Path(self.csv_path)
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        if not self.csv_path.exists() or self.csv_path.stat().st_size == 0:
            with open(self.csv_path, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerow(MEMORY_COLUMNS)
        else:
            # A resumed run appends: its clock continues where the earlier trace stopped.
            earlier = read_memory_csv(self.csv_path)
            if earlier:
                self.t0 -= earlier[-1]["time_s"]
        self._gpu = GpuProbe()
        self._fh = open(self.csv_path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh)

    def sample(self, pid: int, attempt: int = 1) -> int:
        """Record one sample of `pid`'s tree; returns its RSS in bytes (0 once the tree is gone)."""
        rss, pids = tree_rss(pid)
        if not pids or rss == 0:  # gone, or a zombie waiting to be reaped
            return 0
        gpu = None
        if self._gpu.available and self.samples % self.gpu_every == 0:
            gpu = self._gpu.used_mb(pids)
        self.samples += 1
        rss_mb = rss / _MB
        self.peak_rss_mb = max(self.peak_rss_mb, rss_mb)
        if gpu is not None:
            self.peak_gpu_mb = max(self.peak_gpu_mb or 0.0, gpu)
        self._writer.writerow([
            f"{time.monotonic() - self.t0:.2f}", attempt, f"{rss_mb:.1f}",
            "" if gpu is None else f"{gpu:.1f}", len(pids),
        ])
        self._fh.flush()
        return rss

    @property
    def gpu_scope(self) -> str | None:
        return self._gpu.scope if self._gpu else None

    def close(self) -> None:
        self._fh.close()


def read_memory_csv(path: str | Path) -> list[dict]:
    """The memory trace back as dicts of floats (gpu_mb None where not sampled)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            rows.append({
                "time_s": float(raw["time_s"]),
                "attempt": int(raw["attempt"]),
                "rss_mb": float(raw["rss_mb"]),
                "gpu_mb": float(raw["gpu_mb"]) if raw.get("gpu_mb") else None,
                "processes": int(raw["processes"]),
            })
    return rows

