"""Data stage: honesty logs -> canonical tuples -> quality gate -> training rows (stdlib and msgspec, no torch).

`gate_file(GateConfig(...))`, `preprocess(PreprocessConfig(...))` and `make_pairs(PairsConfig(...))`
are what `rlwhf data gate|preprocess|pairs` call.
"""

from rlwhf.data.gate import GateConfig, gate_file
from rlwhf.data.pairs import PairsConfig, make_pairs
from rlwhf.data.preprocess import PreprocessConfig, preprocess

__all__ = ["GateConfig", "gate_file", "PairsConfig", "make_pairs", "PreprocessConfig", "preprocess"]
