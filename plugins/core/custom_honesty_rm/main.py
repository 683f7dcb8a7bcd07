"""Transformer Lab plugin: build the rlwhf honesty reward artifact (a thin shim over `rlwhf.reward`).

    python3 -m plugins.core.custom_honesty_rm.main [--dataset FILE] [--output_dir DIR] [--epochs N] ...

Defaults come from the canonical preset (configs/transformer-lab/grpo_config.yaml): the graded logs
`data.raw_logs` and the artifact folder `reward.artifact_dir`. Inside Transformer Lab the same
parameters arrive through `tlab_trainer.params` (strings from the UI are cast to the config's types).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path


def _defaults() -> dict:
    from rlwhf.config import load_preset

    preset = load_preset()
    return {"dataset": preset["data"]["raw_logs"], "output_dir": preset["reward"]["artifact_dir"]}


def _cast(params: dict) -> tuple[str, str, "object"]:
    """(dataset, output_dir, TrainConfig) from loosely typed parameters (UI values are often strings)."""
    from rlwhf.config import check
    from rlwhf.errors import RlwhfError
    from rlwhf.reward.model import TrainConfig

    defaults = _defaults()
    dataset = str(params.get("dataset") or defaults["dataset"])
    output_dir = str(params.get("output_dir") or defaults["output_dir"])
    hints = typing.get_type_hints(TrainConfig)
    values = {}
    for f in dataclasses.fields(TrainConfig):
        raw = params.get(f.name)
        if raw is None or raw == "":
            continue
        try:
            values[f.name] = hints[f.name](raw)
        except (TypeError, ValueError):
            raise RlwhfError(f"parameter {f.name}: {raw!r} is not a valid {hints[f.name].__name__}") from None
    cfg = TrainConfig(**values)
    check(cfg)
    return dataset, output_dir, cfg


def run(params: dict) -> dict:
    """Build the artifact; a missing logs file gets a message saying how to make one."""
    from rlwhf.errors import RlwhfError
    from rlwhf.reward.model import build

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
    from rlwhf.reward.model import TrainConfig

    ap = argparse.ArgumentParser(description="Build the rlwhf honesty reward artifact.")
    ap.add_argument("--dataset", help="graded logs JSONL (default: the preset's data.raw_logs)")
    ap.add_argument("--output_dir", help="artifact folder (default: the preset's reward.artifact_dir)")
    for f in dataclasses.fields(TrainConfig):
        ap.add_argument(f"--{f.name}", help=f.metadata.get("help", ""))
    return ap


def _transformerlab_trainer():
    try:
        from transformerlab.sdk.v1.train import tlab_trainer  # type: ignore[import-not-found]
    except ImportError:
        return None
    return tlab_trainer


def main(argv: list[str] | None = None) -> int:
    from rlwhf.errors import RlwhfError

    tlab = _transformerlab_trainer()
    try:
        if tlab is not None:  # inside Transformer Lab: its job wrapper parses and reports progress
            @tlab.job_wrapper()
            def _job():
                return run(dict(tlab.params))

            _job()
        else:
            run({k: v for k, v in vars(_parser().parse_args(argv)).items() if v is not None})
    except RlwhfError as exc:
        print(f"custom_honesty_rm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
