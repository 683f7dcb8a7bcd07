"""`PlanConfig`: what `rlwhf plan` (and `rlwhf.plan.build_plan`) take. The numbers live in the preset."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rlwhf.errors import RlwhfError
from rlwhf.reward.teacher_reward import TeacherOptions

ALGOS = ("grpo", "dpo")
PROFILES = ("auto", "cpu", "mps", "single_gpu", "multi_gpu", "multi_node", "ascend_npu")
NODE_PROFILES = ("auto", "cpu", "mps", "single_gpu", "multi_gpu", "ascend_npu")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass
class PlanConfig(TeacherOptions):
    algo: str = field(default="grpo", metadata={"help": "training algorithm", "choices": ALGOS})
    profile: str = field(default="auto", metadata={
        "help": "hardware profile (auto: the one `rlwhf doctor` names for this machine)", "choices": PROFILES})
    model: str | None = field(default=None, metadata={
        "help": "policy: a local folder (rlwhf_model.json supplies model_type/template) or a hub id"})
    dataset: str | None = field(default=None, metadata={
        "help": "training data for swift rlhf (default for grpo: the preset's data.processed)"})
    output: str | None = field(default=None, metadata={"help": "write the plan JSON here (default: stdout)"})
    output_dir: str | None = field(default=None, metadata={
        "help": "ms-swift output_dir: runs land in OUTPUT_DIR/v<N>-<time>/checkpoint-<step> "
                "(default: the preset's <algo>.output_dir)"})
    reward_artifact: str | None = field(default=None, metadata={
        "help": "honesty reward artifact for GRPO, passed as RLWHF_REWARD_ARTIFACT (default: the preset's "
                "reward.artifact when that file exists; otherwise the judge alone)"})
    node_profile: str | None = field(default=None, metadata={
        "help": "multi_node only: the profile each node runs (default: the preset's)", "choices": NODE_PROFILES})
    nnodes: int | None = field(default=None, metadata={"help": "number of nodes (multi_node)"})
    node_rank: int = field(default=0, metadata={"help": "this node's rank, 0..nnodes-1 (multi_node)"})
    master_addr: str | None = field(default=None, metadata={
        "help": "address of node 0, reachable from every node (multi_node)"})
    master_port: int | None = field(default=None, metadata={"help": "rendezvous port on node 0"})
    nproc_per_node: int | None = field(default=None, metadata={
        "help": "processes per node (default: the profile's; multi_gpu: every visible GPU)"})
    overrides: list[str] = field(default_factory=list, metadata={
        "cli": False, "help": "extra swift rlhf arguments KEY=VALUE (typed like the preset's value; "
                              "KEY= drops the argument)"})
    preset: str | None = field(default=None, metadata={
        "help": "preset YAML (default: configs/transformer-lab/grpo_config.yaml)"})

    def _check_model(self) -> None:
        if not self.model:
            raise RlwhfError("--model is required: a local model folder or a hub id")

    def _check_choices(self) -> None:
        if self.algo not in ALGOS:
            raise RlwhfError(f"algo {self.algo!r}: choose one of {', '.join(ALGOS)}")
        if self.profile not in PROFILES:
            raise RlwhfError(f"profile {self.profile!r}: choose one of {', '.join(PROFILES)}")
        if self.node_profile is not None and self.node_profile not in NODE_PROFILES:
            raise RlwhfError(f"node_profile {self.node_profile!r}: choose one of {', '.join(NODE_PROFILES)}")
        if self.node_profile is not None and self.profile not in ("multi_node", "auto"):
            raise RlwhfError("--node-profile only applies to --profile multi_node")

    def _check_distributed(self) -> None:
        if self.nnodes is not None and self.nnodes < 1:
            raise RlwhfError(f"--nnodes must be at least 1, got {self.nnodes}")
        if self.nproc_per_node is not None and self.nproc_per_node < 1:
            raise RlwhfError(f"--nproc-per-node must be at least 1, got {self.nproc_per_node}")
        nnodes = self.nnodes or 1
        if not 0 <= self.node_rank < max(nnodes, 1) and self.nnodes is not None:
            raise RlwhfError(f"--node-rank must be in 0..{nnodes - 1}, got {self.node_rank}")
        if self.master_port is not None and not 1 <= self.master_port <= 65535:
            raise RlwhfError(f"--master-port must be in 1..65535, got {self.master_port}")
        if nnodes > 1 and self.profile not in ("multi_node", "auto"):
            raise RlwhfError(f"--nnodes {nnodes} needs --profile multi_node "
                             "(and --node-profile for what each node runs)")

    def _check_overrides(self) -> None:
        for item in self.overrides:
            key, sep, _ = item.partition("=")
            if not sep or not _KEY.match(key.strip()):
                raise RlwhfError(f"--set {item!r}: expected KEY=VALUE with a swift rlhf argument name as KEY")
