#!/usr/bin/env python3
"""Seed entry point: `master_rlwhf_launcher.py launch --dataset_path FILE --output_dir DIR` == `rlwhf launch ...`."""
import sys

from rlwhf.cli.main import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    sys.exit(main(argv if argv[:1] == ["launch"] else ["launch", *argv]))
