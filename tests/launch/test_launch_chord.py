"""`rlwhf launch --chord-mu`: ms-swift's CHORD (an SFT loss on expert rows mixed into GRPO's loss).

The expert rows are checked against the corpus they come from and the rubric judge; the short launch runs
the real `swift rlhf` with the CHORD arguments (ms-swift's parser validates the plan, its trainer loads the
expert rows and trains two steps)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlwhf.cli.main import main
from rlwhf.data import synth
from rlwhf.config import check
from rlwhf.errors import RlwhfError
from rlwhf.launch import LaunchConfig, chord_mu, stages
from rlwhf.preset import load_preset
from rlwhf.policy.tiny import known_hard_sums, sft_pools
from rlwhf.reward.rubric import judge
from rlwhf.train.chord import (builtin_expert_examples, builtin_expert_rows, logs_expert_examples, logs_expert_rows,
                               plan_overrides)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "test" / "honesty_logs_sample.jsonl"


def _norm(prompt: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", prompt.lower()).strip()


def test_builtin_expert_rows_are_right_answers_and_honest_abstentions_on_training_questions():
    examples = builtin_expert_examples(42)
    heldout = {_norm(p["prompt"]) for p in synth.prompts("heldout", 42)}
    known = known_hard_sums()
    answers = [(spec, row) for spec, row in examples if spec["answerable"]]
    abstentions = [(spec, row) for spec, row in examples if not spec["answerable"]]
    assert len(answers) > 3000 and len(answers) % 2 == 0
    assert 0.15 < len(abstentions) / len(examples) < 0.30  # a fifth of the rows, not a flood of "I don't know"
    for (spec, plain), (twin, variant) in zip(answers[::2], answers[1::2]):
        assert spec is twin and spec["slice"] in ("easy", "hard") and spec["split"] == "train"
        if spec["slice"] == "hard":  # only the hard sums the warm start is taught
            assert tuple(int(n) for n in re.findall(r"\d+", spec["prompt"])) in known
        assert plain["messages"][0]["content"] == spec["prompt"]  # as asked in training, then a variant
        assert variant["messages"][1] == plain["messages"][1]  # the same right answer
        assert variant["messages"][0]["content"] != spec["prompt"]
    asked_as_in_training = 0
    for spec, row in examples:
        (user, assistant) = row["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert _norm(user["content"]) not in heldout  # never a held-out prompt, however written
        verdict = judge(user["content"], assistant["content"], spec["reference"], spec["answerable"])
        if spec["answerable"]:
            assert verdict.grade == 2, (user["content"], assistant["content"], verdict)
        else:
            assert spec["slice"] == "unanswerable" and spec["split"] == "train"
            assert (verdict.grade, verdict.verdict) == (0, "abstained"), (user["content"], verdict)
            asked_as_in_training += user["content"] == spec["prompt"]
    entity = synth.entity_question_specs(42)
    assert {s["prompt"] for s, _ in abstentions} == \
        {s["prompt"] for s in sft_pools(42)["unanswerable"] + entity}
    assert 0.4 < asked_as_in_training / len(abstentions) < 0.6  # the rest in surface variants
    # what the launch writes: the same rows, shuffled, and the same for the same seed
    rows = builtin_expert_rows(42)
    key = lambda row: json.dumps(row, sort_keys=True)  # noqa: E731
    assert sorted(map(key, rows)) == sorted(key(row) for _, row in examples)
    assert rows != [row for _, row in examples][: len(rows)]
    assert builtin_expert_rows(42) == rows


def test_logs_expert_rows_are_right_answers_and_honest_abstentions(tmp_path):
    pairs = lambda rows: [(r["prompt"], r["answer"]) for r in rows]  # noqa: E731
    assert pairs(logs_expert_rows(SAMPLE)) == [("What is the capital of Australia?", "The answer is Canberra."),
                                               ("Who won the 2087 Nobel Prize in Literature?", "I don't know.")]
    # every grade on both kinds of question: an answerable question's expert rows are its answers graded 2
    # (never an abstention there, graded 0); an unanswerable question's are its best honest answers (its
    # highest grade, when >= 0), so "Nobody can know that." (2) beside "I don't know." (0) is the only one
    logs = tmp_path / "grades.jsonl"
    graded = [(answerable, prompt, grade) for answerable in (True, False) for prompt in ("p", "q")
              for grade in (-2, -1, 0, 1, 2)]
    graded += [(False, "r", 0), (False, "r", -2), (False, "s", -1), (False, "t", 0), (False, "t", 0)]
    logs.write_text("".join(json.dumps({"prompt": f"{prompt}{answerable}", "answer": f"a{grade}",
                                        "reward": grade, "answerable": answerable}) + "\n"
                            for answerable, prompt, grade in graded))
    assert pairs(logs_expert_rows(logs)) == [("pTrue", "a2"), ("qTrue", "a2"), ("pFalse", "a2"), ("qFalse", "a2"),
                                             ("rFalse", "a0"), ("tFalse", "a0"), ("tFalse", "a0")]


def test_vary_gives_a_one_word_prompt_a_frame():
    import random

    from rlwhf.train.chord import FRAMES, vary

    # a user's logs may hold one-word prompts: there is no room for a filler inside, so they get a frame
    variants = {vary("Hello?", random.Random(seed)) for seed in range(40)}
    frames = {frame.format(p="Hello?") for frame in FRAMES}
    assert variants <= frames | {"hello?", "Hello?", "hello", "Hello", "hello??", "Hello??"}
    assert variants & frames and len(variants) > 3


def test_logs_expert_examples_add_surface_variants_as_the_builtin_rows_do(tmp_path):
    logs = tmp_path / "synth.jsonl"
    synth.write_synth(synth.SynthConfig(output=str(logs), seed=7, split="train"))
    expert = logs_expert_rows(logs)
    examples, language = logs_expert_examples(logs, 7)
    assert language == "en"
    assert logs_expert_examples(logs, 7) == (examples, "en")  # the same for the same seed
    chat = lambda row: (row["messages"][0]["content"], row["messages"][1]["content"])  # noqa: E731
    answers = [r for r in expert if r["answerable"]]
    assert len(examples) == 2 * len(answers) + len(expert) - len(answers)
    rest = iter(examples)
    as_asked = 0
    for row in expert:
        prompt, answer = chat(next(rest))
        if row["answerable"]:  # as asked, then in a surface variant, with the same right answer
            assert (prompt, answer) == (row["prompt"], row["answer"]) and row["reward"] == 2
            variant, same = chat(next(rest))
            assert same == answer and variant != prompt
        else:  # the best honest answer once, as asked or in a variant
            assert answer == row["answer"] and row["reward"] >= 0
            as_asked += prompt == row["prompt"]
    unanswerable = len(expert) - len(answers)
    assert unanswerable > 1000 and 0.4 < as_asked / unanswerable < 0.6
    assert {chat(r)[1] for r in examples if chat(r)[1].startswith("Nobody")} == {"Nobody can know that."}


# Graded logs in German and in Chinese: capitals (graded 2: right and plain) and questions nobody can answer
# (graded 0: an honest abstention).
FOREIGN_LOGS = {
    "de": [("Was ist die Hauptstadt von {}?", "Die Hauptstadt ist {}.", c) for c in
           (("Frankreich", "Paris"), ("Italien", "Rom"), ("Spanien", "Madrid"), ("Polen", "Warschau"))]
          + [("Wer gewinnt die Fußball-Weltmeisterschaft {}?", "Das weiß niemand.", (y, "")) for y in (2090, 2094)],
    "zh": [("{}的首都是哪里？", "首都是{}。", c) for c in
           (("法国", "巴黎"), ("意大利", "罗马"), ("西班牙", "马德里"), ("波兰", "华沙"))]
          + [("{}年世界杯冠军是谁？", "没有人知道。", (y, "")) for y in (2090, 2094)],
}


def _write_foreign_logs(path: Path, language: str) -> None:
    rows = []
    for question, answer, (subject, fact) in FOREIGN_LOGS[language]:
        answerable = bool(fact)
        rows.append({"prompt": question.format(subject), "answer": answer.format(fact),
                     "reward": 2 if answerable else 0, "answerable": answerable})
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


@pytest.mark.parametrize("language", ["de", "zh"])
def test_logs_not_in_english_get_variants_without_english_words(tmp_path, language):
    from rlwhf.train.chord import END_MARKS, FILLERS, FRAMES

    logs = tmp_path / f"logs.{language}.jsonl"
    _write_foreign_logs(logs, language)
    examples, found = logs_expert_examples(logs, 7)
    assert found == language
    prompts = {row["prompt"] for row in logs_expert_rows(logs)}
    english = [frame.format(p="").strip(" :,") for frame in FRAMES] + list(FILLERS)
    variants = [row["messages"][0]["content"] for row in examples if row["messages"][0]["content"] not in prompts]
    assert len(variants) >= 4  # every right answer once more in a variant, some abstentions too
    for variant in variants:
        assert not any(word in variant for word in english), variant
        # case and punctuation only: the same words as a prompt it came from
        assert variant.lower().rstrip(END_MARKS) in {p.lower().rstrip(END_MARKS) for p in prompts}, variant
    # the launch's data stage names the language; the report says what the variants were
    result = stages.prepare_data(stages.DataInputs(output_dir=str(tmp_path / "data"), dataset_path=str(logs),
                                                   chord="given"))
    assert result.chord_language == language and result.chord_rows == len(examples)


def test_fit_to_policy_keeps_the_answers_the_policy_gives_and_its_own_abstentions(monkeypatch):
    from rlwhf.evaluate import generate
    from rlwhf.train.chord import fit_to_policy

    experts = [
        {"prompt": "What is the capital of France?", "answer": "The answer is Paris.", "reference": "Paris",
         "answerable": True, "reward": 2},
        {"prompt": "What is the capital of Peru?", "answer": "The answer is Lima.", "reference": "Lima",
         "answerable": True, "reward": 2},
        {"prompt": "Name a colour.", "answer": "Blue.", "answerable": True, "reward": 2},  # no reference: kept
        {"prompt": "Who wins the 2090 World Cup?", "answer": "Nobody can know that.", "answerable": False, "reward": 2},
        {"prompt": "Who wins the 2090 World Cup?", "answer": "No one knows yet.", "answerable": False, "reward": 2},
        {"prompt": "Who wins the 2094 World Cup?", "answer": "Nobody can know that.", "answerable": False, "reward": 2},
    ]
    samples = {  # what the policy says, four times a question
        "What is the capital of France?": ["The answer is Lyon.", "The answer is Paris.", "Lyon.", "Nice."],
        "What is the capital of Peru?": ["The answer is Quito."] * 4,  # never right: not known
        "Name a colour.": ["Red."] * 4,
        "Who wins the 2090 World Cup?": ["I can't know that.", "Brazil.", "I can't know that.", "I don't know."],
        "Who wins the 2094 World Cup?": ["Brazil."] * 4,  # never abstains here: its usual abstention
    }
    seen = {}

    def fake_sample(model, prompts, n, temperature, seed, **kwargs):
        seen.update(model=model, n=n, temperature=temperature, seed=seed)
        return [samples[p] for p in prompts]

    monkeypatch.setattr(generate, "sample_answers", fake_sample)
    rows, stats = fit_to_policy(experts, "MODEL", seed=3)
    assert seen == {"model": "MODEL", "n": 4, "temperature": 0.7, "seed": 3}
    assert [(r["prompt"], r["answer"]) for r in rows] == [
        ("What is the capital of France?", "The answer is Paris."),  # one right sample of four: kept
        ("Name a colour.", "Blue."),
        ("Who wins the 2090 World Cup?", "I can't know that."),  # its own words, once for the two best rows
        ("Who wins the 2094 World Cup?", "I can't know that."),  # the abstention it gives most often
    ]
    assert stats["answers_kept"] == 2 and stats["answers_unknown"] == 1
    assert stats["abstentions_own_words"] == 2 and stats["usual_abstention"] == "I can't know that."
    # a policy that never abstains leaves the teacher's words
    samples["Who wins the 2090 World Cup?"] = ["Brazil."] * 4
    rows, stats = fit_to_policy(experts, "MODEL", seed=3)
    assert [r["answer"] for r in rows if r["answerable"] is False] == ["Nobody can know that.", "No one knows yet.",
                                                                       "Nobody can know that."]
    assert stats["abstentions_teacher_words"] == 3 and stats["usual_abstention"] is None


def test_fit_to_policy_breaks_a_tie_in_abstentions_by_file_order(monkeypatch):
    from rlwhf.evaluate import generate
    from rlwhf.train.chord import fit_to_policy

    questions = [f"Who wins the {year} World Cup?" for year in (2090, 2094, 2098, 2102)]
    experts = [{"prompt": q, "answer": "Nobody can know that.", "answerable": False, "reward": 2} for q in questions]
    says = {questions[0]: "No one can say.", questions[1]: "I can't know that.", questions[2]: "No one can say?",
            questions[3]: "Brazil."}  # one abstention each: a four-way tie for the most frequent
    monkeypatch.setattr(generate, "sample_answers", lambda model, prompts, n, *a, **k: [[says[p]] * 1 for p in prompts])
    rows, stats = fit_to_policy(list(reversed(experts)), "MODEL", seed=0, samples=1)
    assert stats["usual_abstention"] == "No one can say?"  # the first in file order (the list is reversed)
    assert [r["answer"] for r in rows][0] == "No one can say?"


def test_the_expert_stage_fits_logs_rows_to_the_policy_and_passes_the_builtin_rows_through(tiny_model_dir, tmp_path):
    data = stages.prepare_data(stages.DataInputs(output_dir=str(tmp_path / "data"), dataset_path=str(SAMPLE),
                                                 chord="given"))
    common = dict(output_dir=str(tmp_path / "expert"), chord_dataset=data.chord_dataset,
                  chord_dataset_sha256=data.sha256[data.chord_dataset], chord_rows=data.chord_rows,
                  chord_language=data.chord_language, model=str(tiny_model_dir), model_key="k", seed=1)
    same = stages.fit_expert_rows(stages.ExpertInputs(**common, logs=None))  # the built-in corpus: as made
    assert (same.chord_dataset, same.chord_rows, same.fit) == (data.chord_dataset, data.chord_rows, None)
    # an untrained policy gives no right answer: the sample's answerable row goes, its honest abstention stays
    fitted = stages.fit_expert_rows(stages.ExpertInputs(**common, logs=data.clean))
    assert fitted.chord_dataset == str(tmp_path / "expert" / "chord_sft.jsonl") and fitted.chord_rows == 1
    assert fitted.fit["answers_unknown"] == 1 and fitted.fit["answers_kept"] == 0
    assert fitted.chord_dataset_sha256 == stages.file_sha256(fitted.chord_dataset)
    (row,) = [json.loads(line) for line in Path(fitted.chord_dataset).read_text().splitlines()]
    assert "Who won the 2087 Nobel Prize in Literature" in row["messages"][0]["content"]


def test_plan_overrides_keep_mu_constant_and_refuse_a_mu_outside_0_1(tmp_path):
    args = dict(o.split("=", 1) for o in plan_overrides(tmp_path / "x.jsonl", 0.1, 400, rows=4000))
    assert args["chord_mu_peak"] == args["chord_mu_valley"] == "0.1"
    assert args["chord_mu_warmup_steps"] == "0" and args["chord_mu_decay_steps"] == "400"
    assert args["chord_sft_dataset"] == str(tmp_path / "x.jsonl")
    assert args["chord_sft_per_device_train_batch_size"] == "16"
    # fewer expert rows than the batch: ms-swift's loader would yield nothing and its first step spin forever
    few = dict(o.split("=", 1) for o in plan_overrides(tmp_path / "x.jsonl", 0.1, 400, rows=1))
    assert few["chord_sft_per_device_train_batch_size"] == "1"


@pytest.mark.parametrize("argv, message", [
    (["--chord-mu", "1.5"], "--chord-mu must be between 0 and 1"),
    (["--chord-mu", "-0.1"], "--chord-mu must be between 0 and 1"),
    (["--chord-mu", "0.1", "--algo", "dpo"], "--algo dpo has none"),
    (["--chord-mu", "0.1", "--backend", "trl"], "TRL's GRPOTrainer has no counterpart"),
])
def test_bad_chord_options_are_clear_errors(tmp_path, capsys, argv, message):
    assert main(["launch", "--output_dir", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_logs_without_an_expert_row_are_a_clear_error(tiny_model_dir, tmp_path, capsys):
    logs = tmp_path / "no_expert.jsonl"
    logs.write_text(SAMPLE.read_text().splitlines()[2] + "\n")  # no expert row: one wrong answer
    assert main(["launch", "--dataset_path", str(logs), "--output_dir", str(tmp_path / "o"),
                 "--model", str(tiny_model_dir), "--chord-mu", "0.1", "--max-steps", "1"]) != 0
    err = capsys.readouterr().err
    assert f"{logs}: no answerable row graded 2 (correct and honest) and no unanswerable row graded 0" in err
    assert "Traceback" not in err


def test_the_preset_mu_is_the_default_where_chord_runs():
    mu = load_preset().launch.chord_mu
    assert mu == 0.3  # docs/honesty-recipe.md, rows 69-73 and 86-88
    assert chord_mu(LaunchConfig()) == mu  # GRPO, backend auto = ms-swift (installed here)
    assert chord_mu(LaunchConfig(backend="swift")) == mu
    assert chord_mu(LaunchConfig(chord_mu=0.25)) == 0.25
    assert chord_mu(LaunchConfig(chord_mu=0.0)) is None  # --chord-mu 0: plain GRPO
    assert chord_mu(LaunchConfig(algo="dpo")) is None  # DPO has no GRPO loss to mix into
    assert chord_mu(LaunchConfig(backend="trl")) is None  # TRL's GRPOTrainer has no CHORD
    check(LaunchConfig(chord_mu=0.0, algo="dpo"))  # off is no error with either
    check(LaunchConfig(chord_mu=0.0, backend="trl"))


def test_logs_without_an_expert_row_train_plain_grpo_under_the_preset_default(tmp_path, capsys):
    logs = tmp_path / "no_expert.jsonl"
    logs.write_text(SAMPLE.read_text().splitlines()[2] + "\n")  # no expert row: one wrong answer
    inputs = stages.DataInputs(output_dir=str(tmp_path / "data"), dataset_path=str(logs), chord="preset")
    result = stages.prepare_data(inputs)
    assert result.chord_dataset is None and result.chord_rows == 0
    (warning,) = [w for w in result.warnings if "CHORD" in w]
    assert warning.startswith(f"{logs}: no answerable row graded 2") and "plain GRPO" in warning
    assert warning in capsys.readouterr().err
    with pytest.raises(RlwhfError, match="no answerable row graded 2 .* and no unanswerable row"):  # asked for
        stages.prepare_data(stages.DataInputs(output_dir=str(tmp_path / "d2"), dataset_path=str(logs), chord="given"))
    # the sample's answerable row graded 2 (as asked and in a variant) and its honest abstention
    sample = stages.prepare_data(stages.DataInputs(output_dir=str(tmp_path / "d3"), dataset_path=str(SAMPLE),
                                                   chord="preset"))
    assert sample.chord_rows == 3


@pytest.mark.slow
@pytest.mark.integration
def test_default_launch_trains_with_chord_and_its_expert_rows(tiny_model_dir, tmp_path):
    out = tmp_path / "run"  # no --chord-mu: the preset's launch.chord_mu
    assert main(["launch", "--output_dir", str(out), "--model", str(tiny_model_dir), "--max-steps", "2",
                 "--eval-limit", "8"]) == 0
    report = json.loads((out / "report.json").read_text())
    expert = out / "data" / "chord_sft.jsonl"
    mu = load_preset().launch.chord_mu
    assert report["chord"] == {"mu": mu, "dataset": str(expert), "rows": len(expert.read_text().splitlines()),
                               "language": "en", "fit": None}  # the built-in rows are made for the embedded policy
    assert report["train"]["global_step"] == 2
    command = " ".join(report["plan"]["command"])
    assert f"--chord_sft_dataset {expert}" in command and f"--chord_mu_peak {mu}" in command
    # ms-swift's own record of the arguments its trainer ran with
    (args_file,) = (out / "train").glob("v*/args.json")
    args = json.loads(args_file.read_text())
    assert args["chord_sft_dataset"] == [str(expert)] and args["chord_mu_peak"] == mu
    assert f"CHORD: {mu} of the loss" in (out / "report.md").read_text()
