"""Run a task folder the way Transformer Lab's local provider does, against the real `transformerlab` SDK.

What Transformer Lab does for a local task (transformerlab-app api/transformerlab/services/compute_provider/
launch_template.py and compute_providers/local.py, read 2026-11):
- it creates the job and stores the task's `parameters` (merged with the user's values) and its `run` line
  in the job's data;
- it puts the task folder into the job's working directory (a GitHub task: `cp -r <github_repo_dir> $PWD/`);
- it replaces `{{secret.NAME}}` / `{{secrets.NAME}}` in `envs`, `setup` and `run` with team secrets (nothing
  else is substituted);
- it runs `setup`, then `/bin/bash -c <run>` in that directory with `_TFL_JOB_ID`, `_TFL_EXPERIMENT_ID`,
  `TFL_EXPERIMENT_ID`, `TFL_STORAGE_PROVIDER` and (local provider) `TFL_WORKSPACE_DIR` set, HOME = the job dir.
This harness does exactly that, then reads back what the SDK recorded under the workspace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SECRET = re.compile(r"\{\{secrets?\.([A-Za-z_][A-Za-z0-9_]*)\}\}")  # Transformer Lab's secret_utils pattern

_CREATE_JOB = """
import asyncio, json, sys
from lab.experiment import Experiment

async def main():
    exp = await Experiment.create_or_get(sys.argv[1], create_new=True)
    job = await exp.create_job()
    await job.update_job_data_fields(json.loads(sys.argv[2]))
    await job.update_status("LAUNCHING")
    print(job.id)

asyncio.run(main())
"""


def substitute_secrets(text: str, secrets: dict) -> str:
    return SECRET.sub(lambda m: secrets.get(m.group(1), m.group(0)), text)


@dataclass
class JobRun:
    proc: subprocess.CompletedProcess
    job: dict  # the job's index.json: status, progress, job_data
    job_dir: Path
    cwd: Path

    @property
    def data(self) -> dict:
        return self.job["job_data"]

    def files(self, sub: str) -> dict[str, Path]:
        d = self.job_dir / sub
        return {p.name: p for p in sorted(d.iterdir())} if d.is_dir() else {}

    def metrics_rows(self) -> list[dict]:
        path = self.job_dir / "metrics.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.job_dir.glob("*.log")) + \
            "\n".join(p.read_text(errors="replace") for p in self.job_dir.glob("*.txt"))


def run_task(task_dir: Path, root: Path, params: dict | None = None, secrets: dict | None = None,
             env: dict | None = None, timeout: float = 600) -> JobRun:
    """Launch `task_dir/task.yaml` as a local Transformer Lab job under `root`; returns what it recorded."""
    task = yaml.safe_load((task_dir / "task.yaml").read_text())
    secrets = secrets or {}
    workspace, cwd = root / "workspace", root / "job_home"
    workspace.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    shutil.copytree(task_dir, cwd / task_dir.name, ignore=shutil.ignore_patterns("__pycache__"))
    parameters = {**(task.get("parameters") or {}), **(params or {})}
    run = substitute_secrets(task["run"], secrets)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("_TFL", "TFL_"))}
    # `python3` in setup/run is this interpreter (the environment the tests run in, like a job's venv)
    base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    base.update({"TFL_HOME_DIR": str(root), "TFL_WORKSPACE_DIR": str(workspace), "TFL_STORAGE_PROVIDER": "localfs",
                 "PYTHONPATH": os.pathsep.join([str(REPO / "src"), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)})
    created = subprocess.run([sys.executable, "-c", _CREATE_JOB, "alpha",
                              json.dumps({"parameters": parameters, "run": run, "task_name": task["name"]})],
                             env=base, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    job_id = created.stdout.strip().splitlines()[-1]
    job_env = {**base, **{k: substitute_secrets(str(v), secrets) for k, v in (task.get("envs") or {}).items()},
               "_TFL_JOB_ID": job_id, "_TFL_EXPERIMENT_ID": "alpha", "TFL_EXPERIMENT_ID": "alpha", "HOME": str(cwd),
               "PIP_NO_INDEX": "1", **(env or {})}
    setup = subprocess.run(["/bin/bash", "-c", substitute_secrets(task["setup"], secrets)], cwd=cwd, env=job_env,
                           capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    proc = subprocess.run(["/bin/bash", "-c", run], cwd=cwd, env=job_env, capture_output=True, text=True,
                          timeout=timeout)
    job_dir = workspace / "experiments" / "alpha" / "jobs" / job_id
    job = json.loads((job_dir / "index.json").read_text())
    return JobRun(proc, job, job_dir, cwd)
