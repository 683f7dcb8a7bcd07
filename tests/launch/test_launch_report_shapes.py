"""The launch report's hedging and held-out-shape sections, from metrics.json-shaped dicts."""

from rlwhf.evaluate.metrics import compute_metrics
from rlwhf.launch.report import _chord_line, _hedging_lines, _shape_lines


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


def test_the_chord_line_names_the_language_and_the_fit_to_the_policy():
    chord = {"mu": 0.1, "rows": 12, "dataset": "d/chord_sft.jsonl", "language": "en", "fit": None}
    assert _chord_line(chord) == ("CHORD: 0.1 of the loss is an SFT loss on 12 expert rows (`d/chord_sft.jsonl`), "
                                  "the rest GRPO's.")
    fit = {"samples": 4, "temperature": 0.7, "answers_kept": 5, "answers_unknown": 2, "abstentions_own_words": 3,
           "abstentions_teacher_words": 0, "usual_abstention": "Weiß ich nicht."}
    line = _chord_line({**chord, "language": "de", "fit": fit})
    assert "Their prompts are in `de`: surface variants change case and punctuation only." in line
    assert ("Fitted to the policy (4 samples a question): 5 right answers it gives kept, 2 it does not give left "
            "out, 3 abstentions in its own words.") in line
