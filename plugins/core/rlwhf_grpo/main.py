"""Transformer Lab task: the whole RLWHF loop (`rlwhf launch`: data gate, reward, policy, evaluation, GRPO
or DPO, evaluation, report) as one job, with the trained policy saved as the job's model.

    python3 rlwhf_grpo/main.py                 # task.yaml's run line, inside a Transformer Lab job
    python3 -m plugins.core.rlwhf_grpo.main --max-steps 2 ...   # elsewhere: exactly `rlwhf launch`

Parameters are LaunchConfig's fields (task.yaml lists them; a test keeps the two in sync). The job's
progress follows the launch's finished stages (9 of them), each stage's time and the final before/after
metrics are logged, the report (json, md, plots) and plan are artifacts, the policy goes to
`lab.save_model`, and the job ends with `lab.finish` (after-training metrics as its score) or `lab.error`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import typing
from pathlib import Path

NAME = "rlwhf_grpo"
_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def parameter_types() -> dict[str, str]:
    """LaunchConfig's fields and their JSON-schema types (what task.yaml's parameters must be)."""
    from rlwhf.launch import LaunchConfig

    hints = typing.get_type_hints(LaunchConfig)
    out = {}
    for f in dataclasses.fields(LaunchConfig):
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        out[f.name] = _TYPES[args[0] if args else tp]
    return out


class _StageProgress:
    """Polls the launch's finished-stage markers (OUT/stages/*.json) and reports them as progress."""

    def __init__(self, lab, out: Path, stages: list[str]):
        self.lab, self.dir, self.stages = lab, out / "stages", stages
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rlwhf-progress", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.poll()  # the last stage may have finished after the last poll

    def _run(self):
        while not self._stop.wait(2.0):
            self.poll()

    def poll(self):
        done = [s for s in self.stages if (self.dir / f"{s}.json").is_file()]
        new = [s for s in done if s not in self.seen]
        if not new:
            return
        self.seen.update(new)
        for stage in new:
            seconds = json.loads((self.dir / f"{stage}.json").read_text()).get("seconds")
            self.lab.log(f"{NAME}: stage {stage} done ({seconds} s)")
        self.lab.update_progress(min(95, 5 + int(90 * len(done) / len(self.stages))))


def _lab_job(params: dict, lab) -> tuple[str, dict]:
    from rlwhf.config import check
    from rlwhf.integrations.tlab import cast_params, numbers
    from rlwhf.launch import STAGES, LaunchConfig, launch

    values, ignored = cast_params(params, parameter_types())
    if ignored:
        lab.log(f"{NAME}: parameters not used here: {', '.join(ignored)}")
    cfg = LaunchConfig(**values)
    check(cfg)
    out = Path(cfg.output_dir).resolve()
    lab.update_progress(5)
    with _StageProgress(lab, out, STAGES):
        report = launch(cfg)
    for name in ("report.json", "report.md", "plan.json", *report.get("plots", [])):
        if (out / name).is_file():
            lab.save_artifact(str(out / name), name=name)
    final = report["train"].get("final_model")
    if final and Path(final).is_dir():
        lab.save_model(final, name=f"rlwhf-{cfg.algo}-policy", architecture=_architecture(final),
                       parent_model=report.get("policy", {}).get("model") or cfg.model or "rlwhf-embedded-tiny")
    before, after = report["before"], report["after"]
    score = {k: v for k, v in numbers(after).items() if k in ("accuracy", "hallucination_rate", "abstention_rate",
                                                               "truthfulness", "honesty_score")}
    score.update({f"delta_{k}": v for k, v in numbers(report.get("delta", {})).items()
                  if k in ("accuracy", "hallucination_rate", "abstention_rate")})
    for warning in report.get("warnings", []):
        lab.log(f"{NAME}: warning: {warning}")
    summary = (f"{cfg.algo} on {report['train'].get('backend')}: {report['train'].get('global_step')} steps; "
               f"accuracy {_pct(before.get('accuracy'))} -> {_pct(after.get('accuracy'))}, hallucination "
               f"{_pct(before.get('hallucination_rate'))} -> {_pct(after.get('hallucination_rate'))}, abstention "
               f"{_pct(before.get('abstention_rate'))} -> {_pct(after.get('abstention_rate'))}")
    return summary, score


def _architecture(model_dir: str) -> str | None:
    cfg = Path(model_dir) / "config.json"
    if cfg.is_file():
        archs = json.loads(cfg.read_text()).get("architectures") or []
        return archs[0] if archs else None
    return None


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def main(argv: list[str] | None = None) -> int:
    from rlwhf.integrations.tlab import in_transformer_lab, run_job

    if in_transformer_lab() and not argv:
        return run_job(NAME, _lab_job)
    from rlwhf.cli.main import main as cli

    return cli(["launch", *(argv or [])])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
