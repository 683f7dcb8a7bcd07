"""The file `rlwhf reward plugin-path` prints for ms-swift's `--external_plugins`.

ms-swift imports a plugin by path after putting the plugin's folder first on sys.path
(`swift.utils.import_external_file`), for its own process and every process it spawns. This folder holds
this file alone, so that nothing in it can shadow a real module there: next to `integrations/trl.py` or
`integrations/inspect.py` a spawned worker's `import trl` or `import inspect` would load ours instead.
The rewards themselves (`rlwhf_honesty`, `rlwhf_teacher`) are registered by `rlwhf.integrations.swift_plugin`.
"""

import rlwhf.integrations.swift_plugin  # noqa: F401  (registers the rewards in swift.rewards.orms)
