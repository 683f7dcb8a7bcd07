"""`rlwhf` entry point: one sub-module per command group, heavy imports inside the commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from rlwhf import __version__
from rlwhf.errors import RlwhfError

# Order = order in --help. Each module has register(subparsers) and sets `func` on its parsers.
GROUPS = ["data", "reward", "model", "doctor", "plan", "train", "evaluate", "collect", "launch"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlwhf",
        description="Reinforcement Learning With Honesty and Feedback: graded honesty logs -> "
        "reward -> ms-swift/TRL GRPO or DPO -> a more honest model, measured before and after.",
    )
    parser.add_argument("--version", action="version", version=f"rlwhf {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log lines (debug); goes before COMMAND: rlwhf -v train ...")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="warnings and errors only, no progress bars; goes before COMMAND")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in GROUPS:
        importlib.import_module(f"rlwhf.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from rlwhf.progress import configure_logging

    # Neither flag: keep the level an enclosing command set (rlwhf launch runs its stages through main()).
    configure_logging(-1 if args.quiet else args.verbose or None)
    func = getattr(args, "func", None)
    if func is None:
        # A group named without its sub-command: show that group's help.
        (getattr(args, "group_parser", None) or parser).print_help()
        return 2
    try:
        return int(func(args) or 0)
    except RlwhfError as exc:
        print(f"rlwhf: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rlwhf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
