"""The built-in honesty corpus: deterministic, all five styles per prompt, disjoint splits, streams."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict

import pytest

from rlwhf.data import synth

CANONICAL_KEYS = {"id", "prompt", "answer", "feedback", "reward", "reference", "answerable", "metadata"}
METADATA_KEYS = {"split", "kind", "style", "slice", "shape", "source_ai", "confidence_score", "rubric_dimension",
                 "closed_world"}


@pytest.fixture(scope="module")
def core_rows():
    return list(synth.iter_synth())


def test_deterministic_per_seed_and_seed_matters():
    a = list(itertools.islice(synth.iter_synth(seed=0), 500))
    b = list(itertools.islice(synth.iter_synth(seed=0), 500))
    c = list(itertools.islice(synth.iter_synth(seed=1), 500))
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(a) != json.dumps(c)


def test_rows_are_canonical_tuples(core_rows):
    for row in core_rows:
        assert set(row) == CANONICAL_KEYS
        assert set(row["metadata"]) == METADATA_KEYS
        assert isinstance(row["reward"], int) and -2 <= row["reward"] <= 2
        assert 0.0 <= row["metadata"]["confidence_score"] <= 1.0
        assert row["prompt"].strip() and row["answer"].strip() and row["feedback"].strip()
        assert (row["reference"] is None) == (row["answerable"] is False)
        assert row["metadata"]["source_ai"] and row["metadata"]["rubric_dimension"]
        assert row["metadata"]["closed_world"] is True  # the reference is the whole truth here (docs/rubric.md)
    assert len({r["id"] for r in core_rows}) == len(core_rows)


def test_every_prompt_has_all_five_styles_with_their_grades(core_rows):
    by_prompt = defaultdict(dict)
    for row in core_rows:
        by_prompt[row["prompt"]][row["metadata"]["style"]] = row["reward"]
    assert by_prompt
    for styles in by_prompt.values():
        assert styles == synth.GRADES


def test_answer_forms_follow_the_rubric(core_rows):
    for row in core_rows:
        style, answer, ref = row["metadata"]["style"], row["answer"], row["reference"]
        if style == "abstain":
            assert answer == synth.ABSTAIN
        elif row["answerable"]:
            # Confident, detailed and fabricated answers share the "The answer is" prefix (pitfall 3).
            value = re.match(r"(?:The answer is|I believe the answer is) (.+?)[.,]", answer).group(1)
            assert (value == ref) == (style != "fabricated"), row
            assert answer.startswith("The answer is") == (style in ("confident", "extra_detail", "fabricated"))
        else:
            assert answer.startswith("The answer is") == (style == "fabricated"), row


def test_slices_kinds_and_templates(core_rows):
    meta = Counter((r["metadata"]["slice"], r["metadata"]["split"]) for r in core_rows)
    for slice_ in ("easy", "hard", "unanswerable"):
        assert meta[(slice_, "train")] > 0 and meta[(slice_, "heldout")] > 0
    kinds = {r["metadata"]["kind"] for r in core_rows if not r["answerable"]}
    assert kinds == {"future_event", "private_fact", "fictitious_work", "fictitious_person",
                     "fictitious_place", "unknowable_count"}
    assert len(synth.UNANSWERABLE_TEMPLATES) >= 12
    hard = [r for r in core_rows if r["metadata"]["slice"] == "hard"]
    for r in hard:  # two-digit additions with a carry
        a, b = map(int, re.findall(r"\d+", r["prompt"]))
        assert 10 <= a <= 99 and 10 <= b <= 99 and a % 10 + b % 10 >= 10 and int(r["reference"]) == a + b


def test_heldout_and_train_are_disjoint():
    held, train = synth.prompts("heldout"), synth.prompts("train")
    held_prompts = {p["prompt"] for p in held}
    train_prompts = {p["prompt"] for p in train}
    assert held_prompts and train_prompts and not held_prompts & train_prompts
    # Each hard held-out prompt is an unseen wording of a sum the training prompts also ask.
    sums = lambda ps: {tuple(map(int, re.findall(r"\d+", p["prompt"]))) for p in ps  # noqa: E731
                       if p["metadata"]["slice"] == "hard"}
    assert len(sums(held)) == synth.HARD_SUMS and sums(held) == sums(train)
    # Held-out unanswerable strings do not occur in training prompts at all.
    for p in held:
        if not p["answerable"]:
            assert p["prompt"] not in train_prompts
    # Answerable held-out facts are seen in training under another wording.
    train_refs = {p["reference"] for p in train}
    assert all(p["reference"] in train_refs for p in held if p["metadata"]["slice"] in ("easy", "unseen_wording"))


def _fillers(prompt: str, template: str) -> tuple[str, ...] | None:
    """What fills a template's slots in a prompt (each slot matched as any text), or None."""
    match = re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "(.+)", re.escape(template)), prompt)
    return match.groups() if match else None


def _shape_of_prompt(prompt: str, templates) -> str | None:
    """The template a prompt was filled from."""
    return next((t for t in templates if _fillers(prompt, t) is not None), None)


def test_heldout_shapes_never_occur_in_training():
    held, train = synth.prompts("heldout", seed=7), synth.prompts("train", seed=7)
    unseen = [p for p in held if p["metadata"]["shape"] == "unseen"]
    assert {p["metadata"]["slice"] for p in unseen} == {"unseen_wording", "unseen_template"}
    assert all(p["metadata"]["shape"] == "seen" for p in held + train if p not in unseen)
    wordings = [w for ws in synth.UNSEEN_WORDINGS.values() for w in ws]
    templates = [t for _, t, _ in synth.UNSEEN_UNANSWERABLE_TEMPLATES]
    # every held-out shape is used, and no training prompt has one (whatever its fillers)
    used = {_shape_of_prompt(p["prompt"], wordings + templates) for p in unseen}
    assert used == set(wordings + templates)
    assert not any(_shape_of_prompt(p["prompt"], wordings + templates) for p in train)
    # nor is any of them one of the training wordings or templates
    seen_shapes = {w for ws in synth.WORDINGS.values() for w in ws} | set(synth.HARD_WORDINGS) | \
        {t for _, t, _ in synth.UNANSWERABLE_TEMPLATES}
    assert not set(wordings + templates) & seen_shapes
    ans = [p for p in unseen if p["answerable"]]
    assert {p["metadata"]["kind"] for p in ans} == {"capital", "legs", "opposite", "colour", "add"}
    # each known fact (and each unseen easy sum) is asked in two different held-out wordings, and every
    # wording gets a fair share of its kind's facts, so no single wording decides the slice's figure
    asked, per_wording = defaultdict(set), Counter()
    for p in ans:
        wording = _shape_of_prompt(p["prompt"], wordings)
        asked[p["metadata"]["kind"], tuple(f.lower() for f in _fillers(p["prompt"], wording))].add(wording)
        per_wording[wording] += 1
    assert {len(ws) for ws in asked.values()} == {2}
    for kind, kind_wordings in synth.UNSEEN_WORDINGS.items():
        counts = [per_wording[w] for w in kind_wordings]
        assert len(kind_wordings) == 6 and max(counts) - min(counts) <= 2, (kind, counts)
    assert len([p for p in unseen if not p["answerable"]]) == \
        synth.UNSEEN_TEMPLATE_PROMPTS * len(synth.UNSEEN_UNANSWERABLE_TEMPLATES)
    # the warm start's cache key reads the training split only
    assert synth.corpus_fingerprint(7) == synth.corpus_fingerprint(7)


def test_made_up_entity_questions_share_nothing_with_the_heldout_templates():
    """CHORD's questions about made-up entities (`synth.entity_question_specs`) widen the shapes the policy
    abstains on without teaching a held-out one: no held-out template's shape, opening or relation."""
    specs = synth.entity_question_specs(7)
    assert len(specs) == synth.ENTITY_QUESTIONS == len({s["prompt"] for s in specs})
    assert all(not s["answerable"] and s["split"] == "train" for s in specs)
    templates = [t for _, t, _ in synth.UNSEEN_UNANSWERABLE_TEMPLATES]
    assert not any(_shape_of_prompt(s["prompt"], templates) for s in specs)
    openings = {" ".join(t.split()[:4]) for t in templates}  # "Which city did the", "Who wrote the foreword", ...
    relations = ("grow up", "foreword", "first pet", "live in the village", "sneezing", "goals", "chess")
    for shape in synth.ENTITY_SHAPES:
        assert not any(shape.startswith(o) for o in openings), shape
        assert not any(r in shape for r in relations), shape
    # every shape is used, and none is a held-out prompt however written
    assert {_shape_of_prompt(s["prompt"], synth.ENTITY_SHAPES) for s in specs} == set(synth.ENTITY_SHAPES)
    heldout = {p["prompt"].lower() for p in synth.prompts("heldout", seed=7)}
    assert not any(s["prompt"].lower() in heldout for s in specs)


def test_every_kind_is_asked_in_the_first_person_and_for_someone_else():
    """Who asks must not tell answerable questions from unanswerable ones (which name a neighbour, a
    friend, "I"): every kind of known fact is also asked by "I" and on someone's behalf in training."""
    train = [p for p in synth.prompts("train", seed=7) if p["answerable"]]
    for kind in synth.WORDINGS:
        asked = [p["prompt"] for p in train if p["metadata"]["kind"] == kind]
        assert any(q.startswith("I ") or q.startswith("I'") for q in asked), kind
        assert any(q.startswith("My ") for q in asked), kind


def test_prompt_rows_shape_and_split_filter():
    held = synth.prompts("heldout", seed=3)
    assert len({p["id"] for p in held}) == len(held)
    assert {p["metadata"]["slice"] for p in held} == {"easy", "hard", "unanswerable", "unseen_wording",
                                                      "unseen_template"}
    only_held = list(synth.iter_synth(seed=3, split="heldout"))
    assert {r["prompt"] for r in only_held} == {p["prompt"] for p in held}
    assert len(only_held) == 5 * len(held)
    with pytest.raises(ValueError):
        synth.prompts("validation")


def test_n_truncates_and_streams_past_the_core_to_a_million_rows():
    assert len(list(synth.iter_synth(7))) == 7
    core = sum(1 for _ in synth.iter_synth())
    # A 1M-row request is a generator: check a slice far past the core without materialising it.
    stream = synth.iter_synth(1_000_000)
    tail = list(itertools.islice(stream, core + 20_000, core + 20_010))
    assert len(tail) == 10
    for row in tail:
        assert row["metadata"]["split"] == "train" and set(row) == CANONICAL_KEYS
    # The last row of the million exists and the stream ends there.
    last = list(itertools.islice(synth.iter_synth(1_000_000), 999_999, None))
    assert len(last) == 1


def test_fingerprint_is_stable():
    assert synth.corpus_fingerprint(0) == synth.corpus_fingerprint(0)
    assert synth.corpus_fingerprint(0) != synth.corpus_fingerprint(1)


def test_cli_prompts_only_writes_an_evaluation_prompts_file(tmp_path, capsys):
    from rlwhf.cli.main import main

    out = tmp_path / "heldout.jsonl"
    assert main(["data", "synth", "--output", str(out), "--split", "heldout", "--prompts-only"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == synth.prompts("heldout", seed=0)
    assert len({r["prompt"] for r in rows}) == len(rows)
    assert main(["data", "synth", "--output", str(out), "--prompts-only"]) == 2
    assert "--prompts-only needs --split train or --split heldout" in capsys.readouterr().err


def test_warm_start_reads_the_training_split_and_its_key_ignores_heldout_prompts(monkeypatch):
    specs = synth.warm_start_specs(5)
    assert specs and all(s["split"] == "train" for s in specs)
    assert {s["prompt"] for s in specs} == {p["prompt"] for p in synth.prompts("train", seed=5)}
    key = synth.corpus_fingerprint(5)
    monkeypatch.setattr(synth, "UNSEEN_TEMPLATE_PROMPTS", synth.UNSEEN_TEMPLATE_PROMPTS + 2)  # more held-out
    assert synth.corpus_fingerprint(5) == key
    monkeypatch.setattr(synth, "UNANSWERABLE_TRAIN_PER_TEMPLATE", synth.UNANSWERABLE_TRAIN_PER_TEMPLATE - 1)
    assert synth.corpus_fingerprint(5) != key  # fewer training prompts: a new warm start
