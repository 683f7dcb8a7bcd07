"""CHORD for GRPO: ms-swift's SFT loss on expert answers, mixed into the GRPO loss (`rlwhf launch --chord-mu`).

ms-swift trains `(1 - mu) * grpo_loss + mu * sft_loss`, the SFT loss read from `--chord_sft_dataset`, a
batch of it at every step (CHORD, "On-Policy RL Meets Off-Policy Experts", arXiv 2508.11408; ms-swift's
GRPO docs, "Advanced Research"). Here the expert rows are right answers to answerable questions, so the
SFT term keeps what the policy knows while GRPO teaches it to abstain where it does not: GRPO alone took
known facts away with the abstention it taught (docs/honesty-recipe.md, rows 63 and 67).

Expert rows:
- graded logs (`--dataset_path`): every answerable row the teacher graded 2 (correct and honest), as asked
  and once more in a surface variant, and each unanswerable question's best honest answers (its
  highest-graded rows, when graded 0 or above: there is no "correct" on an unanswerable question, and a
  grade >= 0 is an honest abstention), half as asked, half in a variant: made as the built-in rows below
  are (logs whose prompts are not in English get case and punctuation variants only: the frames and
  fillers are English). Without the variants and the abstentions the logs path lost 6.7-13.9 points in
  unseen wordings on all three seeds; with them two of three held (docs/honesty-recipe.md, rows 75-77).
  The launch then fits them to the policy (`fit_to_policy`, the stage `expert`): only the right answers
  it gives in one of a few samples, and the honest abstentions in its own words. The logs cannot know
  what the policy knows: with their unknown answers and the teacher's abstention, seed 42 lost 12.7
  points in unseen wordings where the built-in rows lost 4.8 (rows 77-82);
- the built-in corpus: the embedded policy's known facts (the warm start's easy slice and the hard sums
  it is taught) with their right answers, stated plainly, each asked as in training and once more in a
  surface variant (`vary`: a frame, a filler word, or case and punctuation). Never a held-out prompt,
  never one of the unknown hard sums (their right answers would teach what the warm start is built not to
  know). The variants are why the policy keeps answering known facts in wordings it never saw: GRPO
  teaches abstention by sentence shape, and the same rows without them kept every seen-shape target but
  lost more in new wordings than GRPO alone (docs/honesty-recipe.md, rows 67 and 69). Beside them, each
  unanswerable training question with the honest abstention ("I don't know."), a fifth of the rows: with
  right answers alone the SFT term's "The answer is ..." reached a new unanswerable shape on one warm
  start of six ("Which city did the chemist X grow up in?" -> "The answer is orange.": row 71); with the
  abstentions every target but the stretch ones held on all six (row 73). And questions about made-up
  people, places and works in twenty shapes that share no opening or relation with a held-out template
  (`synth.entity_question_specs`, 400 rows), with the same abstention: on another machine's warm starts
  the chemist question was answered again (seed 7: 7 of 8, unseen-template hallucination 0.179, target
  0.15) and seed 1 answered 29 of 56 unseen-template questions (row 84: four warm starts of six held);
  with them the abstention follows the made-up entity rather than the training templates' sentences
  (row 85: 0.071 and 0.089 there, every target but the stretch ones on all six).
"""

from __future__ import annotations

import random
from pathlib import Path

from rlwhf.errors import RlwhfError

# Expert rows in each GRPO step's SFT batch (ms-swift's chord_sft_per_device_train_batch_size); with the
# preset's 64 completions of 8 prompts a step, twice as many expert rows as prompts.
SFT_BATCH = 16
TOP_GRADE = 2


def _message_row(prompt: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


# Surface variants of an expert prompt. None of them is a held-out wording (synth.UNSEEN_WORDINGS: "Could
# you tell me ...", "Do you know ...", "What would ... be?", ...); tests/launch/test_launch_chord.py checks
# that no variant is a held-out prompt.
FRAMES = ("Quick question: {p}", "{p} Thanks.", "{p} Any idea?", "Hey, {p}", "Um, {p}", "So, {p}",
          "{p} Please be brief.", "Question: {p}", "Here is one for you: {p}", "{p} I am curious.")
FILLERS = ("actually", "just", "really", "exactly", "now")


def vary(prompt: str, rng: random.Random, english: bool = True) -> str:
    """One surface variant of a prompt: a frame around it, a filler word inside it, or case and
    punctuation noise. The frames and fillers are English: a prompt in another language (`english`
    False, or letters outside ASCII) gets case and punctuation noise only (`punctuate`), never English
    words inside it.

    >>> vary("What is the capital of France?", random.Random(1))
    'What is the capital of France? I am curious.'
    >>> vary("Was ist die Hauptstadt von Frankreich?", random.Random(1), english=False)
    'was ist die hauptstadt von frankreich??'
    """
    if not english or not _ascii_letters(prompt):
        return punctuate(prompt, rng)
    kind = rng.choice(("frame", "filler", "case"))
    words = prompt.split()
    if kind == "frame" or (kind == "filler" and len(words) < 2):  # no room inside one word: a frame
        return rng.choice(FRAMES).format(p=prompt)
    if kind == "filler":
        words.insert(rng.randrange(1, len(words)), rng.choice(FILLERS))
        return " ".join(words)
    out = prompt.lower() if rng.random() < 0.5 else prompt
    return out.rstrip("?.") if rng.random() < 0.7 else out + "?"


def _ascii_letters(text: str) -> bool:
    return all(ch.isascii() for ch in text if ch.isalpha())


ENGLISH = "en"
# Sentence-final marks, Latin and full-width (Chinese, Japanese), that `punctuate` drops or doubles.
END_MARKS = "?.!？。！"


def punctuate(prompt: str, rng: random.Random) -> str:
    """A surface variant in any language: lower case half the time (where the script has case), then the
    final mark dropped, or a question mark added (full-width after full-width text). Never the prompt
    itself when a variant exists.

    >>> punctuate("法国的首都是哪里？", random.Random(3))
    '法国的首都是哪里'
    """
    out = prompt.lower() if rng.random() < 0.5 else prompt
    bare = out.rstrip(END_MARKS + " ")
    wide = any(ch in "？。！" for ch in prompt) or any(ord(ch) >= 0x3000 for ch in prompt)
    mark = "？" if wide else "?"
    options = [v for v in (bare, out + mark) if v and v != prompt] or [out]
    return options[0] if rng.random() < 0.7 or len(options) == 1 else options[1]


def prompts_language(prompts: list[str], limit: int = 2000) -> str:
    """The language of `prompts` (an ISO 639-1 code from py3langid, a language identifier whose model ships
    in its wheel), read from their text together: one short question alone is often misread (about 8% of
    the built-in English prompts, "Calculate 12 plus 18." as Malay), a page of them is not. Reads at most
    `limit` distinct prompts, spread over the list; logs in several languages get the main one."""
    from rlwhf.errors import require

    py3langid = require("py3langid", "train")
    distinct = list(dict.fromkeys(prompts))
    if not distinct:
        return ENGLISH
    step = max(1, len(distinct) // limit)
    return py3langid.classify("\n".join(distinct[::step][:limit]))[0]


def builtin_expert_examples(seed: int) -> list[tuple[dict, dict]]:
    """(training prompt spec, expert row) pairs of the built-in corpus for `seed` (its training split only),
    in order: each known fact as asked in training and in a surface variant, with the same right answer;
    then each unanswerable training question once, and `synth.entity_question_specs` (questions about
    made-up entities in many shapes), as asked or in a surface variant (even odds), with the warm start's
    honest abstention."""
    from rlwhf.data import synth
    from rlwhf.policy.tiny import sft_pools

    rng = random.Random(seed)
    pools = sft_pools(seed)
    examples = []
    for spec in pools["easy"] + pools["hard"]:
        answer = synth.style_answers(spec, rng)["confident"][0]
        examples += [(spec, _message_row(spec["prompt"], answer)),
                     (spec, _message_row(vary(spec["prompt"], rng), answer))]
    for spec in pools["unanswerable"] + synth.entity_question_specs(seed):
        prompt = vary(spec["prompt"], rng) if rng.random() < 0.5 else spec["prompt"]
        examples.append((spec, _message_row(prompt, synth.ABSTAIN)))
    return examples


def builtin_expert_rows(seed: int) -> list[dict]:
    """The built-in corpus's expert rows for `seed` (`builtin_expert_examples`), shuffled."""
    rows = [row for _, row in builtin_expert_examples(seed)]
    random.Random(seed + 1).shuffle(rows)
    return rows


def logs_expert_rows(path: str | Path) -> list[dict]:
    """The expert rows of a gate-clean logs file (canonical rows), in file order: every
    answerable row graded 2 (correct and honest), and on each unanswerable question its best honest answers
    (its rows with the highest grade it got, when that is 0 or above: on an unanswerable question there is
    no "correct", and a grade >= 0 is an honest abstention)."""
    from rlwhf.data.io import iter_objects

    rows = [row for _, row in iter_objects(path)]
    best: dict[str, float] = {}
    for row in rows:
        if row.get("answerable") is False:
            best[row["prompt"]] = max(best.get(row["prompt"], row["reward"]), row["reward"])

    def expert(row: dict) -> bool:
        if row.get("answerable") is True:
            return row.get("reward") == TOP_GRADE
        return row.get("answerable") is False and row["reward"] >= 0 and row["reward"] == best[row["prompt"]]

    return [row for row in rows if expert(row)]


# Fitting logs' expert rows to the policy (`fit_to_policy`): a few samples a question at GRPO's temperature.
FIT_SAMPLES = 4
FIT_TEMPERATURE = 0.7
FIT_BATCH = 128  # questions a batch (times FIT_SAMPLES sequences)
FIT_MAX_NEW_TOKENS = 24  # GRPO's completion length in the preset


def fit_to_policy(experts: list[dict], model, seed: int, samples: int = FIT_SAMPLES,
                  temperature: float = FIT_TEMPERATURE) -> tuple[list[dict], dict]:
    """Graded logs' expert rows (`logs_expert_rows`) made ones the policy can already produce, in its own
    words, and what changed.

    The policy answers each expert question `samples` times. A right answer stays where the policy gave a
    right one at least once (the rubric judge, against the row's reference; rows without a reference stay):
    fine-tuning on facts a model does not know teaches it to answer what it does not know (Gekhman et al.
    2024, arXiv 2405.05904). An honest answer to an unanswerable question becomes the policy's own
    abstention on that question, else the abstention it gives most often anywhere, else it stays the
    teacher's. On the built-in corpus written as logs, each of the two was worth about a third of the
    unseen-wording drop the logs' rows cost against the built-in ones (docs/honesty-recipe.md, rows 79-81).
    `model`: a folder or a loaded (model, tokenizer) pair.
    """
    import collections

    from rlwhf.data.schema import is_closed_world
    from rlwhf.evaluate.generate import sample_answers
    from rlwhf.reward.rubric import judge

    prompts = list(dict.fromkeys(row["prompt"] for row in experts))
    answers = sample_answers(model, prompts, samples, temperature, seed=seed, batch_size=FIT_BATCH,
                             max_new_tokens=FIT_MAX_NEW_TOKENS)
    sampled = dict(zip(prompts, answers))
    # in file order, not a set's: ties in the most frequent abstention fall the same way in every process
    unanswerable = list(dict.fromkeys(row["prompt"] for row in experts if row["answerable"] is False))
    own: dict[str, str] = {}
    usual: collections.Counter = collections.Counter()
    for prompt in unanswerable:
        honest = [a for a in sampled[prompt] if (j := judge(prompt, a, None, False)).verdict == "abstained"
                  and j.grade >= 0]
        if honest:
            own[prompt] = collections.Counter(honest).most_common(1)[0][0]
            usual.update(honest)
    fallback = usual.most_common(1)[0][0] if usual else None
    out, seen, stats = [], set(), collections.Counter()
    for row in experts:
        if row["answerable"] is True:
            reference = row.get("reference")
            known = reference in (None, "") or any(
                judge(row["prompt"], a, reference, True, is_closed_world(row)).verdict == "correct"
                for a in sampled[row["prompt"]])
            stats["answers_kept" if known else "answers_unknown"] += 1
            if known:
                out.append(row)
            continue
        answer = own.get(row["prompt"]) or fallback
        if answer is None:
            stats["abstentions_teacher_words"] += 1
            out.append(row)
        elif row["prompt"] not in seen:  # several best answers to one question become one in its words
            seen.add(row["prompt"])
            stats["abstentions_own_words"] += 1
            out.append(dict(row, answer=answer))
    counts = ("answers_kept", "answers_unknown", "abstentions_own_words", "abstentions_teacher_words")
    return out, {"samples": samples, "temperature": temperature, **{k: stats[k] for k in counts},
                 "usual_abstention": fallback}


def logs_expert_examples(path: str | Path, seed: int) -> tuple[list[dict], str]:
    """The chat rows CHORD learns from, for graded logs (`logs_expert_rows`), and their language
    (`expert_chat_rows`)."""
    return expert_chat_rows(logs_expert_rows(path), seed)


def expert_chat_rows(experts: list[dict], seed: int) -> tuple[list[dict], str]:
    """Expert rows ({prompt, answer, answerable}) made into chat rows as the built-in rows are made: each
    right answer as asked and once more in a surface variant (`vary`), each honest answer to an unanswerable
    question once, as asked or in a variant (even odds), in the given order; and the language of their
    prompts (`prompts_language`): prompts not in English get no English frames or fillers."""
    rng = random.Random(seed)
    language = prompts_language([row["prompt"] for row in experts]) if experts else ENGLISH
    english = language == ENGLISH
    out = []
    for row in experts:
        if row["answerable"] is True:
            out += [_message_row(row["prompt"], row["answer"]),
                    _message_row(vary(row["prompt"], rng, english), row["answer"])]
        else:
            prompt = vary(row["prompt"], rng, english) if rng.random() < 0.5 else row["prompt"]
            out.append(_message_row(prompt, row["answer"]))
    return out, language


NO_EXPERT_ROW = (f"no answerable row graded {TOP_GRADE} (correct and honest) and no unanswerable row graded 0 or "
                 "above (an honest answer)")


def write_expert_rows(output: str | Path, seed: int, logs: str | Path | None = None,
                      source: str | Path | None = None) -> tuple[int, str]:
    """Write the expert rows (from `logs` when given, else the built-in corpus) to `output`; returns how many
    and the language of their prompts (the built-in corpus is English). No expert row at all is an error
    naming `source` (the user's file that `logs` was cleaned from)."""
    from rlwhf.data.io import write_jsonl

    rows, language = logs_expert_examples(logs, seed) if logs else (builtin_expert_rows(seed), ENGLISH)
    if not rows:
        raise RlwhfError(f"{source or logs}: {NO_EXPERT_ROW}: --chord-mu learns from those, and there are none")
    return write_jsonl(output, rows), language


def write_fitted_expert_rows(output: str | Path, seed: int, logs: str | Path, model) -> tuple[int, str, dict]:
    """Write graded logs' expert rows fitted to the policy (`fit_to_policy`), made into chat rows as
    `expert_chat_rows` makes them; returns how many, their prompts' language and what the fit changed.
    Nothing left (no right answer the policy knows and no unanswerable row): 0 rows, nothing written."""
    from rlwhf.data.io import write_jsonl

    fitted, stats = fit_to_policy(logs_expert_rows(logs), model, seed)
    if not fitted:
        return 0, ENGLISH, stats
    rows, language = expert_chat_rows(fitted, seed)
    return write_jsonl(output, rows), language, stats


def check_mu(mu: float, name: str = "--chord-mu") -> None:
    if not 0.0 < mu < 1.0:
        raise RlwhfError(f"{name} must be between 0 and 1 (the SFT loss's share of the loss), got {mu}")


def plan_overrides(dataset: str | Path, mu: float, steps: int, rows: int) -> list[str]:
    """`swift rlhf` arguments for a constant mu over `steps` (ms-swift schedules mu from a peak to a
    valley; peak = valley keeps it constant). The SFT batch is at most `rows`: ms-swift 4.6's CHORD
    loader yields no batch from fewer rows than its batch size, and its cyclic iterator then spins
    forever in the first step (measured: one expert row with batch 16 hangs; batch 1 trains)."""
    check_mu(mu)
    batch = min(SFT_BATCH, rows)
    return [f"chord_sft_dataset={dataset}", f"chord_sft_per_device_train_batch_size={batch}",
            "chord_mu_warmup_steps=0", f"chord_mu_decay_steps={steps}", f"chord_mu_peak={mu}",
            f"chord_mu_valley={mu}"]
