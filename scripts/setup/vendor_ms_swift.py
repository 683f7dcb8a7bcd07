"""Seed entry point: install the pinned ms-swift (+ msgspec) if absent, print its version (shim over
rlwhf.plan.swift_env). Idempotent: nothing is downloaded when the pinned version is already installed.

    python scripts/setup/vendor_ms_swift.py              # ensure ms-swift==<pin> is importable
    python scripts/setup/vendor_ms_swift.py --source     # also unpack its sdist into vendor/ms-swift-sub
"""

import argparse
import sys


def main(argv=None) -> int:
    from rlwhf.errors import RlwhfError
    from rlwhf.plan.swift_env import ensure_ms_swift

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", nargs="?", const="vendor/ms-swift-sub", default=None, metavar="DIR",
                   help="unpack the source distribution here for reading (default DIR: vendor/ms-swift-sub)")
    args = p.parse_args(argv)
    try:
        result = ensure_ms_swift(source_dir=args.source)
    except RlwhfError as exc:
        print(f"vendor_ms_swift: error: {exc}", file=sys.stderr)
        return exc.exit_code
    state = "installed now: " + ", ".join(result["installed_now"]) if result["installed_now"] else "already installed"
    print(f"ms-swift {result['ms_swift']} ({state}; pins: {', '.join(result['requirements'])})")
    if result["source_dir"]:
        print(f"source: {result['source_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
