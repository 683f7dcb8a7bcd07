"""Transformer Lab task and CLI: build the rlwhf honesty reward artifact (a thin shim over `rlwhf.reward`).

    python3 -m plugins.core.custom_honesty_rm.main [--dataset FILE] [--output_dir DIR] [--epochs N] ...
    python3 custom_honesty_rm/main.py            # task.yaml's run line, inside a Transformer Lab job

Defaults come from the canonical preset (configs/transformer-lab/grpo_config.yaml): the graded logs
`data.raw_logs` and the artifact folder `reward.artifact_dir`. Inside Transformer Lab (`_TFL_JOB_ID` set)
the same parameters come from `lab.get_config()` (strings from the UI are cast to the config's types),
progress goes to `lab.update_progress`, the artifact and its metadata to `lab.save_artifact`, and the job
ends with `lab.finish` (held-out scores) or `lab.error` (the CLI's message); see rlwhf.integrations.tlab.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path


def _defaults() -> dict:
    from rlwhf.preset import load_preset

    preset = load_preset()
    return {"dataset": preset.data.raw_logs, "output_dir": preset.reward.artifact_dir}


def _cast(params: dict) -> tuple[str, str, "object"]:
    """(dataset, output_dir, RewardBuildConfig) from loosely typed parameters (UI values are often strings)."""
    from rlwhf.config import check
    from rlwhf.errors import RlwhfError
    from rlwhf.reward.learned import RewardBuildConfig

    defaults = _defaults()
    dataset = str(params.get("dataset") or defaults["dataset"])
    output_dir = str(params.get("output_dir") or defaults["output_dir"])
    hints = typing.get_type_hints(RewardBuildConfig)
    values = {}
    for f in dataclasses.fields(RewardBuildConfig):
        raw = params.get(f.name)
        if raw is None or raw == "":
            continue
        try:
            values[f.name] = hints[f.name](raw)
        except (TypeError, ValueError):
            raise RlwhfError(f"parameter {f.name}: {raw!r} is not a valid {hints[f.name].__name__}") from None
    cfg = RewardBuildConfig(**values)
    check(cfg)
    return dataset, output_dir, cfg


def run(params: dict) -> dict:
    """Build the artifact; a missing logs file gets a message saying how to make one."""
    from rlwhf.errors import RlwhfError
    from rlwhf.reward.learned import build

    dataset, output_dir, cfg = _cast(params)
    if not Path(dataset).is_file():
        raise RlwhfError(
            f"{dataset}: graded honesty logs not found (run from the repository root, or pass --dataset). "
            f"Make the built-in corpus with: rlwhf data synth --output {dataset}  "
            f"(or point --dataset at your own JSONL of prompt, answer, reward -2..2)")
    meta = build(dataset, output_dir, cfg)
    m = meta["heldout_metrics"]["learned_without_reference"]
    print(f"custom_honesty_rm: wrote {meta['artifact']} from {meta['rows']} rows "
          f"(held-out learned model: exact {m['exact']}, within-1 {m['within1']}, n={m['n']})")
    return meta


def _parser() -> argparse.ArgumentParser:
    from rlwhf.reward.learned import RewardBuildConfig

    ap = argparse.ArgumentParser(description="Build the rlwhf honesty reward artifact.")
    ap.add_argument("--dataset", help="graded logs JSONL (default: the preset's data.raw_logs)")
    ap.add_argument("--output_dir", help="artifact folder (default: the preset's reward.artifact_dir)")
    for f in dataclasses.fields(RewardBuildConfig):
        ap.add_argument(f"--{f.name}", help=f.metadata.get("help", ""))
    return ap


def _builtin_corpus(lab) -> str:
    """No logs given and none at the preset's path: the built-in synthetic corpus, written there."""
    from rlwhf.data.io import JsonlWriter
    from rlwhf.data.synth import iter_synth

    path = _defaults()["dataset"]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with JsonlWriter(path) as out:
        for row in iter_synth(None, 0, split="train"):
            out.write(row)
        count = out.count
    lab.log(f"custom_honesty_rm: no dataset given: wrote the built-in synthetic corpus ({count} rows) to {path}")
    return path


def _lab_job(params: dict, lab) -> tuple[str, dict]:
    """One Transformer Lab job: parameters from the job, artifact saved under the job, held-out scores."""
    import dataclasses as dc

    from rlwhf.integrations.tlab import cast_params
    from rlwhf.reward.learned import RewardBuildConfig

    hints = typing.get_type_hints(RewardBuildConfig)
    kinds = {"dataset": "string", "output_dir": "string",
             **{f.name: {int: "integer", float: "number"}[hints[f.name]] for f in dc.fields(RewardBuildConfig)}}
    known, unknown = cast_params(params, kinds)
    if unknown:
        lab.log(f"custom_honesty_rm: parameters not used here: {', '.join(unknown)}")
    if not known.get("dataset") and not Path(_defaults()["dataset"]).is_file():
        known["dataset"] = _builtin_corpus(lab)
    lab.update_progress(10)
    meta = run(known)
    lab.update_progress(80)
    lab.save_artifact(meta["artifact"], name="honesty_reward_model.json")
    metadata = Path(meta["artifact"]).with_name("metadata.json")
    if metadata.is_file():
        lab.save_artifact(str(metadata), name="metadata.json")
    m = meta["heldout_metrics"]["learned_without_reference"]
    score = {f"heldout_{k}": v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    lab.update_progress(95, metrics=score)
    return (f"wrote {Path(meta['artifact']).name} from {meta['rows']} rows (held-out learned model: "
            f"exact {m['exact']}, within-1 {m['within1']}, n={m['n']})"), score


def main(argv: list[str] | None = None) -> int:
    from rlwhf.errors import RlwhfError
    from rlwhf.integrations.tlab import in_transformer_lab, run_job

    if in_transformer_lab() and not argv:
        return run_job("custom_honesty_rm", _lab_job)
    try:
        run({k: v for k, v in vars(_parser().parse_args(argv)).items() if v is not None})
    except RlwhfError as exc:
        print(f"custom_honesty_rm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
