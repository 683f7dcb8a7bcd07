"""`rlwhf launch`: placeholder until the end-to-end issue lands."""


def register(sub):
    p = sub.add_parser("launch", help="the whole loop (not built yet)")
    p.set_defaults(group_parser=p)
