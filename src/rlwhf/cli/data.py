"""`rlwhf data synth|preprocess|gate|pairs`: torch-free; each sub-command takes its stage's config."""

from __future__ import annotations

import json
import sys

from rlwhf.config import add_arguments, from_namespace
from rlwhf.errors import RlwhfError


def register(sub) -> None:
    from rlwhf.data import GateConfig, PairsConfig, PreprocessConfig
    from rlwhf.data.synth import SynthConfig

    p = sub.add_parser("data", help="honesty logs: synthesize, preprocess, quality-gate, DPO pairs",
                       description="Honesty-log data stage (never imports torch).")
    p.set_defaults(group_parser=p)
    cmds = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    # (name, config, handler, one-line help, description)
    commands = [
        ("synth", SynthConfig, _synth, "write the built-in deterministic honesty corpus",
         "The embedded default data: answerable and unanswerable questions, five graded answer styles each, "
         "metadata.split = train|heldout."),
        ("preprocess", PreprocessConfig, _preprocess,
         "logs (JSONL / HF dataset) -> rlwhf | swift-grpo | swift-dpo | trl-grpo rows",
         "Map honesty logs onto the canonical tuple (aliases: answer<-student_answer|response|completion, "
         "feedback<-teacher_feedback|critique, reward<-grade|score, reference<-reference_answer|solution) and write "
         "training rows. Invalid rows are reported as file:line:reason on stderr and counted; exit 1 with "
         "--strict-input. swift-grpo/trl-grpo keep the first row of each prompt; swift-dpo pairs each prompt's best "
         "and worst answers. A JSON summary of the counts goes to stdout."),
        ("gate", GateConfig, _gate, "validate every row: clean file, quarantine, JSON report",
         "Check each row of FILE. Valid rows are copied verbatim to the clean file, invalid ones go to the "
         "quarantine as {line, rule, reason, raw}, and the report counts total = valid + invalid, duplicates (same "
         "prompt and answer) and reasons. Outputs default to FILE's folder: <stem>.clean.jsonl, "
         "<stem>.quarantine.jsonl, <stem>.gate_report.json. Exit 0: all rows valid; 1: some invalid (outputs "
         "written); 2: usage error, unreadable or empty input."),
        ("pairs", PairsConfig, _pairs, "scored answers -> DPO pairs (chosen = best grade, rejected = worst)",
         "Per prompt, chosen = the highest reward/grade answer, rejected = the lowest, kept when they are at least "
         "--min-margin apart."),
    ]
    for name, cls, handler, help_text, description in commands:
        cmd = cmds.add_parser(name, help=help_text, description=description)
        add_arguments(cmd, cls)
        cmd.set_defaults(func=handler)


def _synth(args) -> int:
    from rlwhf.data.synth import SynthConfig, write_synth

    cfg = from_namespace(SynthConfig, args)
    count = write_synth(cfg)
    what = "prompts" if cfg.prompts_only else "rows"
    _info(f"synth: wrote {count} {what} ({cfg.split}) to {cfg.output}", cfg.output)
    return 0


def _preprocess(args) -> int:
    from rlwhf.data import PreprocessConfig, preprocess

    _info(json.dumps(preprocess(from_namespace(PreprocessConfig, args))), args.output)
    return 0


def _gate(args) -> int:
    from rlwhf.data.gate import GateConfig, exit_code, gate_file

    cfg = from_namespace(GateConfig, args)
    report = gate_file(cfg)
    code = exit_code(report)
    if code == 2:
        raise RlwhfError(f"{report['file']}: {report['error']} (report: {report['report']})")
    lines = [f"{report['file']}: {report['total']} rows: {report['valid']} valid, {report['invalid']} invalid, "
             f"{report['duplicates']} duplicates"]
    lines += [f"  {count:>8}  {rule}" for rule, count in report["reasons"].items()]
    lines.append(f"clean: {report['clean']}\nquarantine: {report['quarantine']}\nreport: {report['report']}")
    print("\n".join(lines))
    return code


def _pairs(args) -> int:
    from rlwhf.data import PairsConfig, make_pairs

    _info(json.dumps(make_pairs(from_namespace(PairsConfig, args))), args.output)
    return 0


def _info(message: str, output: str) -> None:
    """Summaries go to stdout, unless stdout carries the data."""
    print(message, file=sys.stderr if output == "-" else sys.stdout)
