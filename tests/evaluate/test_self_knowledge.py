"""`benchmarks/self_knowledge.py`: its gate scores prudence and over-conservativeness as rlwhf's metrics do,
picks the best threshold within the over-conservativeness budget, and reads each answer's token
probabilities from a padded batch exactly as from the answer alone."""

import importlib.util
from pathlib import Path

import pytest

from rlwhf.evaluate.metrics import compute_metrics

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "self_knowledge.py"


def _script():
    spec = importlib.util.spec_from_file_location("self_knowledge", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(i: int, verdict: str) -> dict:
    return {"id": f"q{i}", "prompt": f"q{i}?", "verdict": verdict, "answerable": True,
            "metadata": {"slice": "unseen_wording"}}


# The warm start got q0-q5 right and q6-q9 wrong; the trained policy answers q0-q4 right, abstains on q5
# (a known answer lost) and q6, and answers q7-q9 wrong.
BASELINE = [_row(i, "correct" if i < 6 else "incorrect") for i in range(10)]
TRAINED = [_row(i, "correct" if i < 5 else "abstained" if i in (5, 6) else "incorrect") for i in range(10)]


def test_no_gate_leaves_the_policys_own_prudence_and_over_conservativeness():
    sk = _script()
    prudence, oc = sk.gated_scores(TRAINED, {}, BASELINE, 0.0)
    m = compute_metrics(TRAINED, BASELINE)["answerable"]
    assert (prudence, oc) == (m["prudence"], m["over_conservativeness"]) == (0.25, 1 / 6)


def test_best_gate_takes_the_most_prudence_within_the_budget():
    sk = _script()
    trained = [_row(i, "correct" if i < 6 else "incorrect") for i in range(10)]  # the warm start's answers
    # wrong answers mostly less confident, one right answer (q0) as unsure as them
    conf = {"q0": 0.2, "q1": 0.9, "q2": 0.9, "q3": 0.8, "q4": 0.95, "q5": 0.7,
            "q6": 0.1, "q7": 0.3, "q8": 0.6, "q9": 0.75}
    assert sk.best_gate(trained, conf, BASELINE, 0.0) == {"prudence": 0.25, "over_conservativeness": 0.0,
                                                          "threshold": 0.2}
    # a sixth of the right ones may go: below 0.7 gates q6, q7, q8 and q0
    assert sk.best_gate(trained, conf, BASELINE, 0.2) == {"prudence": 0.75, "over_conservativeness": 1 / 6,
                                                          "threshold": 0.7}
    assert sk.auroc([conf[f"q{i}"] for i in range(6, 10)], [conf[f"q{i}"] for i in range(6)]) == 20 / 24
    # a policy already over the budget without any gate has no qualifying threshold
    assert sk.best_gate(TRAINED, conf, BASELINE, 0.1) == {}


def test_answer_token_probs_match_each_answer_alone(tiny_model_dir):
    import torch

    from rlwhf.evaluate.generate import load_policy

    sk = _script()
    model, tok = load_policy(tiny_model_dir)
    prompts = ["What is 3 plus 4?", "What is the capital of France?", "Hi"]
    answers = ["The answer is 7.", "Paris.", "I don't know, but maybe it is 12 or 13."]
    batched = sk.answer_token_probs(model, tok, prompts, answers)
    for prompt, answer, probs in zip(prompts, answers, batched):
        alone = sk.answer_token_probs(model, tok, [prompt], [answer])[0]
        assert len(probs) == len(tok(answer, add_special_tokens=False)["input_ids"]) + 1  # the end of turn too
        assert probs == pytest.approx(alone, abs=1e-5)
        assert all(0 < p <= 1 for p in probs)
    # the first answer token's probability is the model's next-token distribution after the prompt
    from rlwhf.evaluate.generate import render_prompts

    ids = tok(render_prompts(tok, prompts[:1])[0], add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        first = torch.softmax(model(input_ids=ids).logits[0, -1].float(), -1)
    assert batched[0][0] == pytest.approx(first[tok(answers[0], add_special_tokens=False)["input_ids"][0]].item(),
                                          abs=1e-5)
