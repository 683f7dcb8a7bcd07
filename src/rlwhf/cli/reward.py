"""`rlwhf reward build|score|plugin-path`: torch-free honesty reward commands."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from rlwhf.config import add_arguments, from_namespace
from rlwhf.errors import RlwhfError


@dataclass
class BuildConfig:
    dataset: str = field(metadata={"help": "graded logs JSONL (prompt, answer, reward -2..2; e.g. rlwhf data synth)"})
    output_dir: str = field(metadata={"help": "folder for honesty_reward_model.json and metadata.json"})


@dataclass
class ScoreConfig:
    input: str = field(metadata={"help": "JSONL rows: prompt, answer|completion, optional reference / answerable"})
    output: str = field(metadata={"help": "JSONL output: the input rows plus score (float -2..2) and grade (int)"})
    artifact: str | None = field(default=None, metadata={
        "help": "honesty_reward_model.json from `reward build` (default: $RLWHF_REWARD_ARTIFACT, else the "
                "rubric judge alone)"})

    def _check_input(self) -> None:
        if self.input != "-" and not Path(self.input).is_file():
            raise RlwhfError(f"{self.input}: input file not found")


def register(sub) -> None:
    p = sub.add_parser("reward", help="honesty reward: build the learned artifact, score answers, plugin path",
                       description="Rubric judge + portable learned reward model (never imports torch).")
    p.set_defaults(group_parser=p)
    cmds = p.add_subparsers(dest="reward_command", metavar="SUBCOMMAND")

    from rlwhf.reward.learned import RewardBuildConfig

    b = cmds.add_parser("build", help="fit the learned reward on graded logs -> DIR/honesty_reward_model.json",
                        description="Fit the reference-free learned reward on graded logs (rows with "
                                    "metadata.split = heldout, or a hash-chosen 10%% of prompts, are held out and "
                                    "scored) and write the sealed JSON artifact plus metadata.json.")
    add_arguments(b, BuildConfig)
    add_arguments(b, RewardBuildConfig)
    b.set_defaults(func=_build)

    s = cmds.add_parser("score", help="score answers: adds score and grade to each row",
                        description="Batch scoring: the rubric judge where a row has a reference or "
                                    "answerable=false, the learned model where it has neither.")
    add_arguments(s, ScoreConfig)
    s.set_defaults(func=_score)

    pp = cmds.add_parser("plugin-path", help="print the ms-swift ORM plugin file (reward name rlwhf_honesty)")
    pp.set_defaults(func=_plugin_path)


def _build(args) -> int:
    from rlwhf.reward.learned import RewardBuildConfig, build

    cfg = from_namespace(BuildConfig, args)
    build_cfg = from_namespace(RewardBuildConfig, args)
    meta = build(cfg.dataset, cfg.output_dir, build_cfg)
    m = meta["heldout_metrics"]
    lm, jm = m["learned_without_reference"], m["judge_with_reference"]
    print(f"wrote {meta['artifact']} ({meta['train_rows']} training rows, {meta['heldout_rows']} held out)")
    if not jm["n"]:
        print("no held-out rows (too few prompts to spare): no held-out metrics")
        return 0
    print(f"held-out judge with references: spearman {jm['spearman']}, exact {jm['exact']}, within-1 {jm['within1']}")
    print(f"held-out learned model without: spearman {lm['spearman']}, exact {lm['exact']}, within-1 {lm['within1']}")
    return 0


def _score(args) -> int:
    from rlwhf.reward.learned import reward_from_env
    from rlwhf.reward.scoring import score_file

    cfg = from_namespace(ScoreConfig, args)
    stats = score_file(reward_from_env(cfg.artifact), cfg.input, cfg.output)
    print(f"scored {stats['rows']} rows -> {cfg.output} (judge {stats['judge']}, learned model {stats['model']})",
          file=sys.stderr)
    return 0


def _plugin_path(args) -> int:
    from rlwhf.reward import plugin_path

    print(plugin_path())
    return 0

