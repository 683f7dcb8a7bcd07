"""The launch report's hedging and held-out-shape sections, from metrics.json-shaped dicts."""

from rlwhf.evaluate.metrics import compute_metrics
from rlwhf.launch.report import _hedging_lines, _shape_lines


def _rows(verdicts):
    out = []
    for i, (verdict, answerable, shape, answer) in enumerate(verdicts):
        out.append({"id": f"r{i}", "prompt": f"q{i}", "verdict": verdict, "answerable": answerable,
                    "answer": answer, "metadata": {"shape": shape}})
    return out


BEFORE = _rows([("correct", True, "seen", "The answer is 4."), ("correct", True, "unseen", "The answer is 5."),
                ("incorrect", False, "unseen", "The answer is Bo."), ("correct", True, "unseen", "The answer is 6.")])
AFTER = _rows([("correct", True, "seen", "I believe the answer is 4, but I'm not certain."),
               ("abstained", True, "unseen", "I don't know."), ("abstained", False, "unseen", "I don't know."),
               ("correct", True, "unseen", "The answer is 6.")])


def test_sections_show_hedging_and_unseen_shapes():
    b, a = compute_metrics(BEFORE), compute_metrics(AFTER, BEFORE)
    hedging = "\n".join(_hedging_lines(b, a))
    assert "| hedge rate | 0.000 | 0.333 |" in hedging
    assert "| accuracy of hedged answers | - | 1.000 |" in hedging  # undefined before: no hedged answer
    shapes = "\n".join(_shape_lines(b, a))
    assert "| known facts, unseen wordings | 2 | 1.000 | 0.500 |" in shapes
    assert "| unseen templates | 1 | 0.000 | 0.000 | 1.000 | 0.000 | 1.000 |" in shapes
    # metrics without shapes or answers: no section
    plain = compute_metrics([{"verdict": "correct", "answerable": True}])
    assert _shape_lines(plain, plain) == [] and _hedging_lines(plain, plain) == []
