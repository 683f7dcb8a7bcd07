"""`TrainConfig`: what `rlwhf train` and `rlwhf.train.train()` take."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rlwhf.errors import RlwhfError
from rlwhf.reward.teacher_reward import TeacherOptions

BACKENDS = ("swift", "trl")


@dataclass
class TrainConfig(TeacherOptions):
    plan: str = field(metadata={"help": "launch plan JSON written by `rlwhf plan`"})
    backend: str | None = field(default=None, metadata={
        "help": "swift: run the plan's `swift rlhf` command; trl: TRL GRPOTrainer/DPOTrainer from the "
                "same plan (default: the plan's backend; trl when ms-swift is not installed)",
        "choices": list(BACKENDS)})
    resume: bool = field(default=False, metadata={
        "help": "continue from the newest complete checkpoint under the plan's output_dir"})
    max_attempts: int = field(default=3, metadata={
        "help": "attempts in all: after an out-of-memory failure the next fallback-cascade step is "
                "applied and training retried from the last checkpoint"})
    max_rss_gb: float | None = field(default=None, metadata={
        "help": "kill the run when its process tree's resident memory exceeds this many GB and treat it "
                "as out of memory (keeps a run from taking the machine down)"})
    sample_interval: float = field(default=0.5, metadata={
        "help": "seconds between memory samples / log reads"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar on stderr"})

    def _check_plan(self):
        path = Path(self.plan)
        if not path.is_file():
            raise RlwhfError(f"{self.plan}: plan file not found (write one with `rlwhf plan ... --output FILE`)")

    def _check_numbers(self):
        if self.max_attempts < 1:
            raise RlwhfError(f"--max-attempts must be at least 1, got {self.max_attempts}")
        if self.max_rss_gb is not None and self.max_rss_gb <= 0:
            raise RlwhfError(f"--max-rss-gb must be positive, got {self.max_rss_gb}")
        if self.sample_interval <= 0:
            raise RlwhfError(f"--sample-interval must be positive, got {self.sample_interval}")
