"""Evaluate: policy answers -> teacher grades (offline rubric judge or an online teacher) -> honesty metrics.

`metrics.compute_metrics`, `generate.generate_answers`, `EvaluateConfig` + `evaluate(cfg)`.
No torch at import time: generation imports it when it runs.
"""

from rlwhf.evaluate.evaluation import EvaluateConfig, evaluate

__all__ = ["EvaluateConfig", "evaluate"]
