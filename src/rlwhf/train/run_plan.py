"""`train(cfg)`: the production wrapper around one plan.

Setup (plan, backend, telemetry), then attempts: run the backend under supervision; on an
out-of-memory failure apply the next fallback-cascade step and retry from the last complete
checkpoint, up to `max_attempts`; then cleanup (final model folder, telemetry files). Every attempt
and every plan change is written to `telemetry/train.log` and `telemetry/summary.json`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from rlwhf.config import check
from rlwhf.errors import RlwhfError
from rlwhf.telemetry.logs import LogFollower, collect_steps, write_steps_csv
from rlwhf.telemetry.memory import MemoryTrace
from rlwhf.telemetry.versions import versions
from rlwhf.plan.launch_plan import LaunchPlan
from rlwhf.reward.shaping import SHAPING_ENV
from rlwhf.train import fallback as cascade_mod
from rlwhf.train.checkpoints import finalize_model, global_step, latest_complete
from rlwhf.train.config import TrainConfig
from rlwhf.train.supervisor import read_tail, run_attempt


class RunLog:
    """Lines for people: to stderr (above the progress bar) and appended to telemetry/train.log."""

    def __init__(self, path: Path, bar=None):
        self.path = path
        self.bar = bar

    def __call__(self, message: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {message}\n")
        line = f"[rlwhf train] {message}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)


def choose_backend(requested: str | None, plan: LaunchPlan, log) -> str:
    if requested:
        return requested
    backend = plan.backend or "swift"
    program = plan.command[0]
    if backend == "swift" and shutil.which(program) is None and not Path(program).is_file():
        log(f"`{program}` is not installed (pip install 'rlwhf[swift]'): using the TRL backend")
        return "trl"
    return backend


def child_env(plan: LaunchPlan) -> dict[str, str]:
    """The trainer's environment: ours, then the plan's. The plan pins the reward shaping (`rlwhf plan`
    writes $RLWHF_REWARD_SHAPING into it when any is on), so a variable left in our environment does not
    reshape a run whose plan says the rubric's grades."""
    inherited = {k: v for k, v in os.environ.items() if k != SHAPING_ENV}
    return {**inherited, **plan.env, "PYTHONUNBUFFERED": "1"}


def build_argv(plan: LaunchPlan, backend: str, run_root: Path, plan_file: Path, resume_from: Path | None
               ) -> list[str]:
    """The attempt's command: the plan's own argv (swift) or the TRL runner over the same plan."""
    if backend == "swift":
        return plan.with_args(resume_from_checkpoint=str(resume_from) if resume_from else None).command
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    version = len([p for p in run_root.glob("v*-*") if p.is_dir()])
    argv = [sys.executable, *_torchrun_args(plan.env), "-m", "rlwhf.train.trl_backend",
            "--plan", str(plan_file), "--run-dir", str(run_root / f"v{version}-{stamp}")]
    return argv + (["--resume-from", str(resume_from)] if resume_from else [])


def _torchrun_args(env: dict) -> list[str]:
    """`-m torch.distributed.run ...` for a multi-process plan: the same variables `swift rlhf` reads."""
    if int(env.get("NPROC_PER_NODE", "1")) <= 1 and int(env.get("NNODES", "1")) <= 1:
        return []
    args = ["-m", "torch.distributed.run"]
    for name in ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if env.get(name):
            args += [f"--{name.lower()}", env[name]]
    return args


def _progress(total: int | None, initial: int, enabled: bool):
    from rlwhf.progress import bar, show_progress

    # --no-progress, `rlwhf -q` or a stderr that is not a terminal: no bar (log lines still go out).
    return bar(total, "train", "step", enabled=enabled and show_progress(), initial=initial)


def _load_summary(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def train(cfg: TrainConfig, cascade: list | None = None) -> dict:
    """Run a plan to completion (see `_train`), holding its output dir's lock: one run per dir at a time."""
    from rlwhf.lockfile import dir_lock

    check(cfg)
    with dir_lock(LaunchPlan.load(cfg.plan).output_dir, "rlwhf train"):
        return _train(cfg, cascade)


def _train(cfg: TrainConfig, cascade: list | None = None) -> dict:
    """Run a plan to completion with OOM fallback and telemetry; returns where things are.

    Result keys: final_model (a folder AutoModelForCausalLM / AutoTokenizer load), output_dir,
    telemetry_dir, attempts (one dict per attempt), backend, global_step, max_steps, wall_time_s,
    peak_rss_mb, summary (path of summary.json).
    """
    # Setup.
    check(cfg)  # the CLI has run these already; a library caller may not have
    started, t0, cpu0 = time.time(), time.monotonic(), _cpu_seconds()
    plan = LaunchPlan.load(cfg.plan)
    out = plan.output_dir
    tele = out / "telemetry"
    tele.mkdir(parents=True, exist_ok=True)
    log = RunLog(tele / "train.log")
    plan = _with_teacher(plan, cfg, log)
    backend = choose_backend(cfg.backend, plan, log)
    prior = _load_summary(tele / "summary.json") if cfg.resume else {}
    if not cfg.resume:
        for stale in [tele / "memory.csv", tele / "steps.csv", *tele.glob("attempt-*")]:
            stale.unlink(missing_ok=True)
    attempts: list[dict] = list(prior.get("attempts", []))
    total_steps = plan.max_steps
    # A fresh run never mistakes an earlier run's checkpoints or logs in the same folder for its own.
    since = None if cfg.resume else started - 1.0

    resume_from = None
    if cfg.resume:
        resume_from = latest_complete(out, log=log)
        if resume_from is None:
            log(f"--resume: no complete checkpoint under {out}; starting from the beginning")
        else:
            log(f"--resume: continuing from {resume_from} (global step {global_step(resume_from)})")
    # The cascade is loaded at the first out-of-memory failure: a run that fits never needs it.
    steps = None if cascade is None else [cascade_mod.as_step(s) for s in cascade]
    log(f"plan {cfg.plan}: {plan.algo} via {backend}, output {out}, max_steps {total_steps}, "
        f"max_attempts {cfg.max_attempts}" + (f", RSS cap {cfg.max_rss_gb} GB" if cfg.max_rss_gb else ""))

    # matplotlib takes ~0.5 s to import: do it while the trainer starts up, not after it finishes.
    threading.Thread(target=_warm_plotting, daemon=True).start()
    trace = MemoryTrace(tele / "memory.csv")
    follower = LogFollower(out)
    follower.skip_existing()
    bar = _progress(total_steps, global_step(resume_from) if resume_from else 0, cfg.progress)
    log.bar = bar

    def on_steps(records: list[dict]) -> None:
        bar.n = records[-1]["step"]
        post = {k: f"{records[-1][k]:.3g}" for k in ("reward", "loss") if isinstance(records[-1].get(k), float)}
        bar.set_postfix(post, refresh=False)
        bar.refresh()

    current = plan
    failure = None
    already_done = bool(resume_from and total_steps and global_step(resume_from) >= total_steps)
    if already_done:
        log(f"--resume: {resume_from} is already at max_steps {total_steps}; nothing left to train")
    attempt_budget = 0 if already_done else cfg.max_attempts
    try:
        for n in range(1, attempt_budget + 1):
            # Numbering continues across --resume invocations, also after one that was killed outright.
            number = max([len(attempts), *(_attempt_number(p) for p in tele.glob("attempt-*.plan.json"))]) + 1
            plan_file = tele / f"attempt-{number}.plan.json"
            current.write(plan_file)
            argv = build_argv(current, backend, out, plan_file, resume_from)
            env = child_env(current)
            log(f"attempt {number}: starting" + (f", resuming from {resume_from}" if resume_from else ""))
            result = run_attempt(
                argv, env, tele / f"attempt-{number}.log", trace, follower, on_steps, attempt=number,
                max_rss_bytes=int(cfg.max_rss_gb * 2**30) if cfg.max_rss_gb else None,
                interval=cfg.sample_interval,
            )
            record = {
                "attempt": number, "backend": backend, "status": result.reason, "detail": result.detail,
                "returncode": result.returncode, "wall_s": round(result.wall_s, 2),
                "peak_rss_mb": round(result.peak_rss_mb, 1), "resumed_from": str(resume_from) if resume_from else None,
                "steps_logged": [min(result.steps_seen), max(result.steps_seen)] if result.steps_seen else None,
                "plan": str(plan_file), "log": str(result.log_path), "argv": argv,
            }
            attempts.append(record)
            log(f"attempt {number}: {result.reason} ({result.detail}) after {result.wall_s:.1f} s, "
                f"peak RSS {result.peak_rss_mb:.0f} MB")
            if result.reason == "ok":
                break
            if not result.out_of_memory:
                tail = "\n".join(read_tail(result.log_path, 4000).splitlines()[-15:])
                down = _TEACHER_DOWN.search(read_tail(result.log_path, 16000))
                if down:  # the reward stopped the run on purpose: say why, not a traceback
                    failure = RlwhfError(f"training stopped on attempt {number}: {down.group(1).strip()} "
                                         f"(log: {result.log_path})", exit_code=1)
                    log(f"attempt {number}: {down.group(1).strip()}")
                    break
                failure = RlwhfError(f"training failed on attempt {number} ({result.detail}); full log: "
                                     f"{result.log_path}\n{tail}", exit_code=1)
                break
            if n == cfg.max_attempts:
                failure = RlwhfError(f"out of memory on attempt {number} ({result.detail}) and no attempts left "
                                     f"(--max-attempts {cfg.max_attempts}); log: {result.log_path}", exit_code=1)
                break
            if steps is None:
                steps = cascade_mod.load_cascade()
            applied = cascade_mod.next_step(current, steps)
            for skipped in applied.skipped if applied else []:
                log(f"fallback step passed over: {skipped}")
            if applied is None:
                failure = RlwhfError(f"out of memory on attempt {number} ({result.detail}) and the fallback "
                                     f"cascade has no step left that changes this plan", exit_code=1)
                break
            record["fallback"] = {"step": applied.name, "description": applied.description,
                                  "changes": applied.changes}
            log(f"fallback step {applied.index + 1}/{len(steps)} '{applied.name}' "
                f"({applied.description or 'no description'}): " + "; ".join(applied.changes))
            resume_from = _retry_checkpoint(current, applied.plan, out, since, log)
            if resume_from is not None:
                bar.n = global_step(resume_from)
                if total_steps and global_step(resume_from) >= total_steps:
                    # The limit struck after the last step's checkpoint (e.g. while the run wound down):
                    # training is done; another attempt would only train past max_steps.
                    log(f"{resume_from.name} already holds all {total_steps} steps: no retry needed")
                    record["fallback"]["not_needed"] = True
                    break
            current = applied.plan
    finally:
        bar.close()
        log.bar = None
        trace.close()
        wall = time.monotonic() - t0
        cpu = {k: round(v - cpu0[k], 2) for k, v in _cpu_seconds().items()}
        summary = _write_telemetry(tele, out, plan, current, backend, attempts, trace, wall, prior, since, cpu)

    if failure is not None:
        raise failure

    # Cleanup: the final checkpoint becomes a loadable model folder.
    final = latest_complete(out, log=log, since=since) or (latest_complete(out, log=log) if cfg.resume else None)
    if final is None:
        raise RlwhfError(f"training finished but no complete checkpoint was written under {out} "
                         "(set --save_steps / max_steps so at least one checkpoint is saved)", exit_code=1)
    final_model = finalize_model(final, plan.model, log)
    step = global_step(final)
    if total_steps and step < total_steps:
        log(f"warning: the last checkpoint is at step {step} of {total_steps}")
    summary.update(final_model=str(final_model), global_step=step)
    (tele / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    log(f"done: {step} optimizer steps in {wall:.1f} s; final model {final_model}")
    return {
        "final_model": str(final_model), "output_dir": str(out), "telemetry_dir": str(tele), "backend": backend,
        "attempts": attempts, "global_step": step, "max_steps": total_steps, "wall_time_s": round(wall, 2),
        "peak_rss_mb": summary["peak_rss_mb"], "summary": str(tele / "summary.json"),
    }


_TEACHER_DOWN = re.compile(r"TeacherUnavailable: (.+)")


def _with_teacher(plan: LaunchPlan, cfg: TrainConfig, log) -> LaunchPlan:
    """The plan with the teacher flags applied; a teacher-rewarded plan first checks that the teacher
    answers, and stops here (not an hour later) when it does not, unless --teacher-fallback judge."""
    from rlwhf.plan.build import apply_teacher
    from rlwhf.reward.teacher_reward import ENV_PREFIX, TeacherRewardConfig, probe

    env = {k: v for k, v in plan.env.items() if k.startswith(ENV_PREFIX)}
    if plan.algo != "grpo" or not (env or cfg.teacher_overrides()):
        return plan
    base = TeacherRewardConfig.from_env(env) if env else None
    teacher = cfg.teacher_config(base=base)
    if cfg.teacher_overrides():
        plan = apply_teacher(plan, teacher)
    if not teacher.uses_teacher:
        return plan
    log(f"reward: {teacher.source} graded by {teacher.model} at {teacher.base_url}")
    why = probe(teacher)
    if why is not None:
        if teacher.fallback != "judge":
            raise RlwhfError(f"the teacher at {teacher.base_url} does not answer ({why}); not starting a run "
                             "that would train on fallback grades (pass --teacher-fallback judge to train on the "
                             "local judge's grades while it is down)", exit_code=1)
        log(f"warning: the teacher at {teacher.base_url} does not answer ({why}); --teacher-fallback judge: "
            "the local judge grades what it cannot")
    return plan


def _cpu_seconds() -> dict:
    """CPU time of this supervisor process and of the trainers it ran (user + system): what supervision
    costs, measured even on a busy machine where wall times are noisy."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"supervisor_cpu_s": own.ru_utime + own.ru_stime, "trainer_cpu_s": children.ru_utime + children.ru_stime}


def _attempt_number(path: Path) -> int:
    digits = path.name.split(".")[0].removeprefix("attempt-")
    return int(digits) if digits.isdigit() else 0


def _warm_plotting() -> None:
    from rlwhf.telemetry.plots import load_pyplot

    load_pyplot()


def _retry_checkpoint(old: LaunchPlan, new: LaunchPlan, out: Path, since: float | None, log) -> Path | None:
    ckpt = latest_complete(out, log=log, since=since)
    if ckpt is None:
        log("retrying from the beginning: no complete checkpoint yet")
        return None
    # A checkpoint holds full weights or an adapter: it cannot seed a run of the other kind.
    if str(old.args.get("tuner_type", "full")) != str(new.args.get("tuner_type", "full")):
        log(f"retrying from the beginning: {ckpt.name} was written with another --tuner_type")
        return None
    log(f"retrying from {ckpt} (global step {global_step(ckpt)})")
    return ckpt


def _write_telemetry(tele: Path, out: Path, plan: LaunchPlan, final_plan: LaunchPlan, backend: str, attempts: list[dict],
                     trace: MemoryTrace, wall: float, prior: dict, since: float | None, cpu: dict) -> dict:
    """steps.csv, plots and summary.json from what the run left behind (also after a failure)."""
    from rlwhf.telemetry.memory import read_memory_csv
    from rlwhf.telemetry.plots import plot_memory_trace, plot_reward_curve
    from rlwhf.telemetry.logs import step_row

    records = collect_steps(out, since)
    write_steps_csv(records, tele / "steps.csv")
    rows = [step_row(r) for r in records]
    samples = read_memory_csv(tele / "memory.csv") if (tele / "memory.csv").is_file() else []
    plot_reward_curve(rows, tele / "reward_curve.png", title=f"{plan.algo.upper()} reward ({backend})")
    plot_memory_trace(samples, tele / "memory_trace.png", title="Training memory (process tree)")
    peak_rss = max([s["rss_mb"] for s in samples], default=0.0)
    gpu = [s["gpu_mb"] for s in samples if s["gpu_mb"] is not None]
    rewards = [r["reward"] for r in rows if r["reward"] is not None]
    summary = {
        "versions": versions(),
        "plan": plan.to_dict(),
        "final_plan": final_plan.to_dict(),
        "backend": backend,
        "attempts": attempts,
        "wall_time_s": round(wall, 2),
        "wall_time_s_all_invocations": round(wall + prior.get("wall_time_s_all_invocations", 0.0), 2),
        "peak_rss_mb": round(peak_rss, 1),
        "peak_gpu_mb": round(max(gpu), 1) if gpu else None,
        **cpu,
        "gpu_memory_scope": trace.gpu_scope if gpu else None,
        "steps_logged": len(rows),
        "first_step": rows[0]["step"] if rows else None,
        "last_step": rows[-1]["step"] if rows else None,
        "reward_first": rewards[0] if rewards else None,
        "reward_last": rewards[-1] if rewards else None,
        "files": {name: str(tele / name) for name in
                  ("memory.csv", "steps.csv", "reward_curve.png", "memory_trace.png", "train.log")},
    }
    teacher = _teacher_summary(out, final_plan, since, tele)
    if teacher is not None:
        summary["teacher"] = teacher
        summary["files"]["teacher_steps.csv"] = str(tele / "teacher_steps.csv")
    (tele / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


def _teacher_summary(out: Path, plan: LaunchPlan, since: float | None, tele: Path) -> dict | None:
    """The teacher reward's per-call records (every rank, every attempt) summed, and a per-call CSV."""
    import csv

    from rlwhf.reward.teacher_reward import COUNT_KEYS, read_records, summarize

    records = read_records(out, since)
    if not records:
        return None
    price = plan.env.get("RLWHF_TEACHER_PRICE_PER_MILLION_TOKENS")
    summary = summarize(records, price=float(price) if price else None)
    columns = ["step", "source", *COUNT_KEYS, "latency_ms_mean", "latency_ms_p95", "reward_wait_s", "budget_spent"]
    with open(tele / "teacher_steps.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for rec in records:
            writer.writerow({k: rec.get(k) for k in columns})
    return summary
