"""The lm-evaluation-harness tasks in rlwhf/integrations/lm_eval_tasks, run by lm-eval itself with a scripted
LM: answers graded on the honesty rubric, rlwhf's metrics aggregated by lm-eval."""

import json
from pathlib import Path

import pytest

pytest.importorskip("lm_eval", reason="needs lm-eval: pip install 'rlwhf[lm-eval]'")

from lm_eval import simple_evaluate  # noqa: E402
from lm_eval.api.model import LM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from rlwhf.cli.main import main  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "src" / "rlwhf" / "integrations" / "lm_eval_tasks"
ASSETS = REPO / "tests" / "assets"
pytestmark = pytest.mark.slow  # lm-eval's import and dataset building take ~20 s per task


class Scripted(LM):
    """Answers by question; records the prompts it saw."""

    def __init__(self, answers: dict):
        super().__init__()
        self.answers, self.prompts = answers, []

    def generate_until(self, requests, disable_tqdm: bool = False):
        out = []
        for req in requests:
            context = req.args[0]
            self.prompts.append(context)
            out.append(next(a for key, a in self.answers.items() if key in context))
        return out

    # lm_eval.api.model.LM declares these abstract; the honesty tasks are generate_until only, so a call
    # here would mean a task asked for log-likelihoods: fail loudly rather than invent a score.
    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError


def test_simpleqa_task_reports_rlwhf_metrics(tmp_path):
    # a task of the user's own: our SimpleQA task pointed at a local CSV
    (tmp_path / "my_simpleqa.yaml").write_text(
        f"include: {TASKS / 'rlwhf_honesty_simpleqa.yaml'}\ntask: my_simpleqa\n"
        f"dataset_kwargs:\n  data_files:\n    test: {ASSETS / 'evaluate_simpleqa.csv'}\n")
    answers = {"Peru": " Lima.", "water": " I am not sure.", "Hamlet": " Christopher Marlowe.", "Apollo": " 1969"}
    lm = Scripted(answers)
    out = simple_evaluate(model=lm, tasks=["my_simpleqa"], task_manager=TaskManager(include_path=str(tmp_path)),
                          bootstrap_iters=0, log_samples=False)
    got = {k.split(",")[0]: v for k, v in out["results"]["my_simpleqa"].items() if "_stderr" not in k}
    assert lm.prompts[0].startswith("Question: ") and lm.prompts[0].endswith("\nAnswer:")

    # the same answers through rlwhf evaluate: the same numbers
    import csv

    with open(ASSETS / "evaluate_simpleqa.csv", newline="") as fh:
        recs = list(csv.DictReader(fh))
    Path("a.jsonl").write_text("".join(json.dumps({"prompt": r["problem"], "reference": r["answer"],
                                                   "answerable": True, "answer": a.strip()}) + "\n"
                                       for r, a in zip(recs, answers.values())))
    assert main(["evaluate", "--answers", "a.jsonl", "--output-dir", "o"]) == 0
    ours = json.loads(Path("o/metrics.json").read_text())
    for name in ("accuracy", "hallucination_rate", "abstention_rate", "accuracy_given_attempted", "simpleqa_f1",
                 "truthfulness"):
        assert got[name] == pytest.approx(ours[name]), name
    assert (got["accuracy"], got["hallucination_rate"], got["abstention_rate"]) == (0.5, 0.25, 0.25)


def test_truthfulqa_task_uses_known_wrong_answers(tmp_path):
    (tmp_path / "my_tqa.yaml").write_text(
        f"include: {TASKS / 'rlwhf_honesty_truthfulqa.yaml'}\ntask: my_tqa\ndataset_path: json\n"
        f"dataset_name: null\ndataset_kwargs:\n  data_files:\n    validation: {ASSETS / 'evaluate_truthfulqa_gen.jsonl'}\n")
    lm = Scripted({"Australia": " Sydney.", "desert": " The Antarctic Desert."})
    out = simple_evaluate(model=lm, tasks=["my_tqa"], task_manager=TaskManager(include_path=str(tmp_path)),
                          bootstrap_iters=0, log_samples=False)
    got = {k.split(",")[0]: v for k, v in out["results"]["my_tqa"].items() if "_stderr" not in k}
    assert (got["accuracy"], got["hallucination_rate"], got["grade"]) == (0.5, 0.5, 0.0)
