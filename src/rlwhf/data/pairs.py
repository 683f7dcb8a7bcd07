"""Scored answers -> DPO preference pairs: per prompt, the highest-graded answer is chosen and the
lowest rejected, when they are at least `min_margin` apart."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlwhf.errors import RlwhfError


@dataclass
class PairsConfig:
    input: str = field(metadata={"help": "scored rows: prompt, answer (or completion), reward or grade (-2..2)"})
    output: str = field(metadata={"help": "DPO rows: ms-swift shape plus prompt, chosen, rejected, margin"})
    min_margin: int = field(default=1, metadata={"help": "least grade gap between chosen and rejected"})
    quarantine: str | None = field(default=None, metadata={"help": "also write invalid rows here"})

    def _check_margin(self) -> None:
        if self.min_margin < 1:
            raise RlwhfError(f"--min-margin must be >= 1, got {self.min_margin}")


def make_pairs(cfg: PairsConfig, log=None) -> dict:
    """Write DPO pairs; returns preprocess's counts (read, invalid, written, unpaired_prompts, ...).

    Same rules as `preprocess --format swift-dpo`: a row's grade comes from `reward`, else `grade`.

    >>> import json, pathlib; rows = [{"prompt": "p", "answer": a, "grade": g} for a, g in (("I don't know.", 0), ("42.", -2))]
    >>> _ = pathlib.Path("s.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
    >>> make_pairs(PairsConfig("s.jsonl", "d.jsonl"), log=lambda m: None)["written"]
    1
    """
    from rlwhf.config import check
    from rlwhf.data.preprocess import PreprocessConfig, preprocess

    check(cfg)
    return preprocess(PreprocessConfig(output=cfg.output, input=[cfg.input], format="swift-dpo",
                                       min_margin=cfg.min_margin, quarantine=cfg.quarantine), log=log)
