"""`rlwhf doctor`: placeholder until its issue lands (the helper that owns it replaces this file)."""


def register(sub):
    p = sub.add_parser("doctor", help="(doctor: not built yet)")
    p.set_defaults(group_parser=p)
