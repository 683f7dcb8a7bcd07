"""`rlwhf reward`: placeholder until its issue lands (the helper that owns it replaces this file)."""


def register(sub):
    p = sub.add_parser("reward", help="(reward: not built yet)")
    p.set_defaults(group_parser=p)
