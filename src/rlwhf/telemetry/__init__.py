"""Run telemetry: memory sampling, trainer-log reading, summaries and plots.

Light to import (no torch, no matplotlib until a plot is drawn): the training supervisor and
`rlwhf launch`'s report both use it.
"""

from rlwhf.telemetry.logs import (
    LogFollower,
    STEP_COLUMNS,
    collect_steps,
    find_trainer_logs,
    read_steps_csv,
    read_trainer_log,
    step_of,
    step_row,
    write_steps_csv,
)
from rlwhf.telemetry.memory import MemoryTrace, kill_tree, read_memory_csv, tree_rss
from rlwhf.telemetry.plots import plot_memory_trace, plot_reward_curve
from rlwhf.telemetry.versions import versions

__all__ = [
    "LogFollower", "MemoryTrace", "STEP_COLUMNS", "collect_steps", "find_trainer_logs", "kill_tree",
    "plot_memory_trace", "plot_reward_curve", "read_memory_csv", "read_steps_csv", "read_trainer_log",
    "step_of", "step_row", "tree_rss", "versions", "write_steps_csv",
]
