"""`rlwhf doctor [--json]`: this machine's CPU, RAM, accelerators and training packages, and the profile
`rlwhf plan --profile auto` would pick. Works without torch."""

from __future__ import annotations

import json


def register(sub):
    p = sub.add_parser("doctor", help="detect hardware and packages; name the profile `auto` picks",
                       description=__doc__)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(group_parser=p, func=run)


def report() -> dict:
    from rlwhf.hardware.machine import detect, pick_profile

    info = detect()
    name, why = pick_profile(info)
    info["profile"] = {"name": name, "why": why}
    return info


def run(args) -> int:
    info = report()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for label, value in table(info):
        print(f"{label:<10}{value}")
    return 0


def table(info: dict) -> list[tuple[str, str]]:
    cpu, mem, cuda = info["cpu"], info["memory"], info["cuda"]
    rows = [("cpu", f"{cpu['usable_cores']} usable of {cpu['cores']} cores ({cpu['arch']})")]
    if mem.get("total_gb") is not None:
        avail = f", {mem['available_gb']} GiB available" if mem.get("available_gb") is not None else ""
        rows.append(("ram", f"{mem['total_gb']} GiB total{avail}"))
    if cuda["count"]:
        for d in cuda["devices"]:
            rows.append(("cuda", f"[{d['index']}] {d['name']}, {d['memory_gb']} GiB, compute "
                                 f"{d['compute_capability']}, bf16 {'yes' if d['bf16'] else 'no'}"))
    else:
        rows.append(("cuda", f"none (checked with {cuda.get('source', 'torch')})"))
    rows.append(("mps", "available" if info["mps"]["available"] else "no"))
    rows.append(("npu", f"{info['npu']['count']} Ascend NPU(s)" if info["npu"].get("count") else "no"))
    for dist, version in info["packages"].items():
        rows.append(("package", f"{dist} {version}" if version else f"{dist} not installed"))
    for note in info.get("notes", []):
        rows.append(("note", note))
    rows.append(("profile", f"auto -> {info['profile']['name']}: {info['profile']['why']}"))
    return rows
