#!/usr/bin/env python3
"""Seed entry point: `rlwhf data preprocess` with the canonical preset's defaults
(configs/transformer-lab/grpo_config.yaml `data:` raw_logs -> processed, format swift-grpo), then the rows
through ms-swift's EncodePreprocessor when ms-swift is installed and the configured model's tokenizer
loads locally (--model DIR, else $RLWHF_MODEL, else the embedded policy if cached); otherwise converted
without encoding. Either way it prints which path it took and why (report: OUTPUT.encode.json).
Any flag given here wins, e.g. `--streaming --input logs.jsonl --output rows.jsonl --model DIR`."""

import sys

from rlwhf.cli.main import main
from rlwhf.preset import load_preset


def run(argv: list[str]) -> int:
    argv, model = _take(list(argv), "--model")
    data = load_preset().data
    given = {a.split("=")[0] for a in argv}
    defaults = {"--input": data.raw_logs, "--output": data.processed, "--format": data.format}
    extra = [x for flag, value in defaults.items() if flag not in given and value is not None
             and not (flag == "--input" and "--hf-dataset" in given) for x in (flag, value)]
    rc = main(["data", "preprocess", *argv, *extra])
    fmt = _value(argv + extra, "--format")
    if rc != 0 or fmt not in ("swift-grpo", "swift-dpo") or _value(argv + extra, "--output") == "-":
        return rc
    from rlwhf.integrations.swift_encode import encode_report
    from rlwhf.launch.seed import configured_model

    model, source = configured_model(model)
    report = encode_report(_value(argv + extra, "--output"), model, source)
    if report["encoded"]:
        tokens = report["prompt_tokens"]
        print(f"encode: ms-swift EncodePreprocessor ({report['why']}): {report['encoded_rows']} rows, prompt tokens "
              f"max {tokens['max']} mean {tokens['mean']}, {len(report['failed_rows'])} rows failed -> "
              f"{report['report']}", file=sys.stderr)
        return 1 if report["failed_rows"] else 0
    print(f"encode: skipped, converted only: {report['why']} -> {report['report']}", file=sys.stderr)
    return 0


def _take(argv: list[str], flag: str) -> tuple[list[str], str | None]:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[:i] + argv[i + 2:], argv[i + 1]
        if arg.startswith(flag + "="):
            return argv[:i] + argv[i + 1:], arg.split("=", 1)[1]
    return argv, None


def _value(argv: list[str], flag: str) -> str | None:
    return _take(argv, flag)[1]


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
