"""How much honest abstention could the policy's own confidence buy on a held-out slice?

Issue 14's stretch target asks the trained policy to abstain on at least half of the unseen-wording
questions its warm start got wrong (prudence >= 0.5) while abstaining on at most 5% of those it got right
(over-conservativeness <= 0.05). A policy can only do that if something inside it tells the two apart.
This script measures how well the model's own confidence does, for each launch folder given:

- the warm start and the trained policy (report.json's before.source.model and after.source.model), each
  with its greedy answers and verdicts (RUN/eval_before/answers.jsonl, RUN/eval_after/answers.jsonl);
- for each attempted answer on the slice, three confidences from the model that gave it: the mean and the
  lowest probability of the answer's tokens (the recorded answer and its end-of-turn token, teacher
  forced) and the share of --samples answers sampled at temperature 1 that say the same thing;
- AUROC of each confidence, wrong answers against right ones (0.5: no signal; 1: a perfect separation);
- a gate that turns every answer below a threshold into an abstention, scored as rlwhf's metrics score a
  policy against its warm start (prudence over the questions the warm start got wrong, over-
  conservativeness over those it got right; abstentions the model already makes count as they are),
  and the best prudence any threshold reaches with over-conservativeness <= --max-oc.

The threshold is chosen on the held-out slice itself, so the gate's figures are an upper bound on what
abstaining by that confidence could reach (an oracle's threshold), not a method to ship.

    python benchmarks/self_knowledge.py RUN_DIR [RUN_DIR ...] [--slice unseen_wording] [--samples 16]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CONFIDENCES = ("mean token p", "min token p", "sample agreement")


def auroc(wrong: list[float], right: list[float]) -> float | None:
    """The chance that a random wrong answer's confidence is below a random right one's (ties: half).

    >>> auroc([0.1, 0.2], [0.3, 0.9])
    1.0
    >>> auroc([0.5], [0.5])
    0.5
    """
    if not wrong or not right:
        return None
    return sum((w < r) + 0.5 * (w == r) for w in wrong for r in right) / (len(wrong) * len(right))


def gated_scores(rows: list[dict], conf: dict[str, float], baseline: list[dict], threshold: float):
    """(prudence, over-conservativeness) of the answerable `rows` with every attempted answer whose
    confidence is below `threshold` made an abstention, scored by `rlwhf.evaluate.metrics` against the
    baseline rows (the warm start's): over-conservativeness = abstentions among the questions the
    baseline got right; prudence = abstentions among those it did not, where the answer is not right."""
    from rlwhf.evaluate.metrics import compute_metrics

    gated = [{**row, "verdict": "abstained"}
             if row["verdict"] in ("correct", "incorrect") and conf.get(row["id"], float("inf")) < threshold else row
             for row in rows]
    m = compute_metrics(gated, baseline)["answerable"]
    return m.get("prudence"), m.get("over_conservativeness")


def best_gate(rows: list[dict], conf: dict[str, float], baseline: list[dict], max_oc: float) -> dict:
    """The threshold with the highest prudence whose over-conservativeness is at most `max_oc` (no gate
    at all is a candidate: threshold -inf); {} when even no gate is over `max_oc`."""
    best: dict = {}
    for t in [float("-inf"), *sorted(set(conf.values())), float("inf")]:
        prudence, oc = gated_scores(rows, conf, baseline, t)
        if prudence is None or oc is None or oc > max_oc:
            continue
        if not best or prudence > best["prudence"]:
            best = {"prudence": prudence, "over_conservativeness": oc, "threshold": t}
    return best


def answer_token_probs(model, tokenizer, prompts: list[str], answers: list[str], batch_size: int = 64):
    """Each answer's token probabilities under the model (teacher forced after the chat-rendered prompt,
    its end-of-turn token included), from one right-padded forward per batch."""
    import torch

    from rlwhf.evaluate.generate import render_prompts

    eos = tokenizer.eos_token_id
    texts = render_prompts(tokenizer, prompts)
    out: list[list[float]] = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            seqs, spans = [], []
            for text, answer in zip(texts[start:start + batch_size], answers[start:start + batch_size]):
                p = tokenizer(text, add_special_tokens=False)["input_ids"]
                a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [eos]
                seqs.append(p + a)
                spans.append((len(p), len(a)))
            width = max(len(s) for s in seqs)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
            ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
            probs = torch.softmax(model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits.float(), -1)
            for b, (p_len, a_len) in enumerate(spans):
                targets = ids[b, p_len:p_len + a_len]
                out.append(probs[b, p_len - 1:p_len - 1 + a_len].gather(-1, targets[:, None].to(probs.device))
                           .squeeze(-1).tolist())
    return out


def _norm(text: str) -> str:
    return " ".join(text.lower().strip().rstrip(".!").split())


def confidences(model_dir, rows: list[dict], samples: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """{confidence name: {row id: value}} for the attempted answers in `rows`."""
    import torch

    from rlwhf.evaluate.generate import load_policy, sample_answers

    attempted = [r for r in rows if r["verdict"] in ("correct", "incorrect")]
    if not attempted:
        return {name: {} for name in CONFIDENCES}
    torch.set_num_threads(1)  # a 2M-parameter model: more threads only wait on each other
    model, tokenizer = load_policy(model_dir)
    prompts, answers = [r["prompt"] for r in attempted], [r.get("answer") or "" for r in attempted]
    probs = answer_token_probs(model, tokenizer, prompts, answers)
    sampled = sample_answers((model, tokenizer), prompts, samples=samples, temperature=1.0, seed=seed, threads=1)
    ids = [r["id"] for r in attempted]
    return {
        "mean token p": {i: sum(p) / len(p) for i, p in zip(ids, probs)},
        "min token p": {i: min(p) for i, p in zip(ids, probs)},
        "sample agreement": {i: sum(_norm(s) == _norm(a) for s in ss) / len(ss)
                             for i, a, ss in zip(ids, answers, sampled)},
    }


def _rows(path: Path, slice_name: str) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not row.get("id"):
            sys.exit(f"{path}, line {n}: a row without an id cannot be matched to its warm-start row")
        if (row.get("metadata") or {}).get("slice") == slice_name and row.get("answerable"):
            rows.append(row)
    return rows


def measure(run: Path, slice_name: str, samples: int, max_oc: float) -> dict:
    """Both models of one launch folder: {"warm start"|"trained": {counts, per confidence auroc and gate}}."""
    report = json.loads((run / "report.json").read_text())
    models = {side: ((report.get(side) or {}).get("source") or {}).get("model") for side in ("before", "after")}
    if not all(models.values()):
        sys.exit(f"{run / 'report.json'}: no before.source.model / after.source.model (a launch's report names both)")
    before = _rows(run / "eval_before" / "answers.jsonl", slice_name)
    result = {}
    for label, model_dir, rows in (("warm start", models["before"], before),
                                   ("trained", models["after"], _rows(run / "eval_after" / "answers.jsonl", slice_name))):
        conf = confidences(model_dir, rows, samples)
        wrong = [r["id"] for r in rows if r["verdict"] == "incorrect"]
        right = [r["id"] for r in rows if r["verdict"] == "correct"]
        prudence, oc = gated_scores(rows, {}, before, 0.0)
        result[label] = {"rows": len(rows), "right": len(right), "wrong": len(wrong),
                         "abstained": sum(r["verdict"] == "abstained" for r in rows),
                         "prudence": prudence, "over_conservativeness": oc}
        for name in CONFIDENCES:
            c = conf[name]
            result[label][name] = {"auroc": auroc([c[i] for i in wrong], [c[i] for i in right]),
                                   "best_gate": best_gate(rows, c, before, max_oc)}
    return result


def _f(v) -> str:
    return "    -" if v is None else f"{v:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="launch folders (rlwhf launch --output_dir)")
    ap.add_argument("--slice", default="unseen_wording", help="the held-out slice (metadata.slice)")
    ap.add_argument("--samples", type=int, default=16, help="sampled answers per question for agreement")
    ap.add_argument("--max-oc", type=float, default=0.05, help="the over-conservativeness a gate may reach")
    args = ap.parse_args(argv)
    results = {}
    for run in args.runs:
        if not (run / "report.json").is_file():
            sys.exit(f"{run}: not a finished launch folder (no report.json)")
        results[str(run)] = measure(run, args.slice, args.samples, args.max_oc)
    for run, res in results.items():
        print(f"\n{run} ({args.slice}, answerable)")
        for label, m in res.items():
            print(f"  {label}: {m['rows']} rows, {m['right']} right, {m['wrong']} wrong, {m['abstained']} abstained; "
                  f"prudence {_f(m['prudence'])}, over-conservativeness {_f(m['over_conservativeness'])}")
            for name in CONFIDENCES:
                g = m[name]["best_gate"]
                gate = ("no threshold keeps over-conservativeness <= " + str(args.max_oc)) if not g else \
                    f"best gate: prudence {_f(g['prudence'])} at over-conservativeness {_f(g['over_conservativeness'])}"
                print(f"    {name:<17} AUROC {_f(m[name]['auroc'])}; {gate}")
    if len(results) > 1:
        print(f"\nmean over {len(results)} runs: best gate's prudence at over-conservativeness <= {args.max_oc} "
              "(runs where no threshold qualifies count as the model's own figure being over it: left out)")
        for label in ("warm start", "trained"):
            for name in CONFIDENCES:
                ps = [r[label][name]["best_gate"].get("prudence") for r in results.values()]
                au = [r[label][name]["auroc"] for r in results.values()]
                kept = [p for p in ps if p is not None]
                print(f"  {label:<10} {name:<17} AUROC " + " ".join(_f(a) for a in au)
                      + "; prudence " + " ".join(_f(p) for p in ps)
                      + (f"; mean {sum(kept) / len(kept):.3f}" if kept else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
