"""`rlwhf evaluate`: placeholder until its issue lands (the helper that owns it replaces this file)."""


def register(sub):
    p = sub.add_parser("evaluate", help="(evaluate: not built yet)")
    p.set_defaults(group_parser=p)
