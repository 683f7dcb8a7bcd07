"""`swift deploy` serving a local policy on a loopback port: the real OpenAI-compatible student server.

Used by the served-student tests and benchmarks/evaluate_endpoint.py. Started once, stopped by its pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def swift_executable() -> str | None:
    found = shutil.which("swift", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return found


class SwiftStudent:
    """`with SwiftStudent(model_dir) as s:` -> s.url (…/v1), s.model ("student")."""

    def __init__(self, model_dir, log_path, ready_timeout: float = 240.0, model: str = "student"):
        self.model_dir, self.log_path, self.ready_timeout, self.model = str(model_dir), Path(log_path), ready_timeout, model
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = None

    def __enter__(self):
        exe = swift_executable()
        if exe is None:
            raise RuntimeError("swift (ms-swift) is not installed: pip install -r requirements.txt")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [exe, "deploy", "--model", self.model_dir, "--model_type", "qwen2", "--template", "chatml",
             "--infer_backend", "transformers", "--host", "127.0.0.1", "--port", str(self.port),
             "--served_model_name", self.model],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.__exit__()
                raise RuntimeError(f"swift deploy exited ({self.proc.returncode}); log: {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as resp:
                    if any(m.get("id") == self.model for m in json.load(resp).get("data", [])):
                        return self
            except OSError:
                pass
            time.sleep(1)
        self.__exit__()
        raise RuntimeError(f"swift deploy not ready after {self.ready_timeout:.0f} s; log: {self.log_path}")

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the server and its workers, nothing else
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
