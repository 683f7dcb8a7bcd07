"""GRPO step time with the reward from the local judge, `hybrid` and `teacher`, side by side in one run.

    python benchmarks/teacher_reward.py [--steps 16] [--latency 0.15] [--compute real|none]

Each step is 8 prompts x 8 completions = 64, drawn from the built-in corpus with a warm-start policy's mix
of answers (confident, hedged, abstaining, extra detail, fabricated), duplicates included as a sampling
policy makes them. The step's policy compute is real (`--compute real`): the embedded policy's shape
(Qwen2 as `TinyModelConfig` sets it, untrained) generates 24 tokens for 64 sequences and takes one
forward/backward/optimizer step, the work a GRPO step does besides the reward. The teacher is the loopback
rubric teacher answering every request after `--latency` seconds. For every step the three sources run
one after the other on the same completions, each with its own empty cache; then the teacher and hybrid
runs go over the same completions again (a rerun / resumed run).

Targets: hybrid step time <= 1.15x the judge's; teacher step time <= the judge's + one round trip (a
single request's latency, measured here); a rerun makes 0 requests.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loopback rubric teacher lives with the tests

MIX = {"confident": 0.60, "hedged": 0.12, "abstain": 0.10, "extra_detail": 0.10, "fabricated": 0.08}


def make_steps(n_steps: int, seed: int) -> list[dict]:
    """`n_steps` batches of 8 prompts x 8 completions with the columns ms-swift passes."""
    from rlwhf.data.synth import iter_synth

    by_prompt: dict[str, dict] = {}
    for row in iter_synth(n=5 * 8 * n_steps * 2, seed=seed):
        entry = by_prompt.setdefault(row["prompt"], {"reference": row["reference"], "answerable": row["answerable"],
                                                     "answers": {}})
        entry["answers"][row["metadata"]["style"]] = row["answer"]
    rng = random.Random(seed)
    prompts = [p for p, e in by_prompt.items() if len(e["answers"]) == 5]
    rng.shuffle(prompts)
    steps = []
    styles, weights = list(MIX), list(MIX.values())
    for s in range(n_steps):
        comps, cols = [], {"messages": [], "solution": [], "answerable": []}
        for p in prompts[s * 8:(s + 1) * 8]:
            e = by_prompt[p]
            for style in rng.choices(styles, weights, k=8):
                comps.append(e["answers"][style])
                cols["messages"].append([{"role": "user", "content": p}, {"role": "assistant", "content": comps[-1]}])
                cols["solution"].append(e["reference"])
                cols["answerable"].append(e["answerable"])
        steps.append({"completions": comps, **cols})
    return steps


class PolicyCompute:
    """The non-reward work of a GRPO step on the embedded policy's shape: generate 24 tokens x 64, one update."""

    def __init__(self, enabled: bool, seed: int):
        self.enabled = enabled
        if not enabled:
            return
        import torch

        from rlwhf.policy import tiny

        torch.manual_seed(seed)
        torch.set_num_threads(max(1, torch.get_num_threads()))
        shape = tiny.TinyModelConfig(seed=seed)
        tokenizer = tiny.train_tokenizer(tiny.tokenizer_texts(seed), shape.vocab_size)
        self.torch = torch
        self.pad = tokenizer.pad_token_id
        self.model = tiny.build_model(tokenizer, shape)  # the embedded policy, untrained
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-5)
        self.prompt = torch.randint(3, len(tokenizer), (64, 16))

    def __call__(self) -> None:
        if not self.enabled:
            return
        torch = self.torch
        self.model.eval()
        with torch.no_grad():
            seq = self.model.generate(self.prompt, attention_mask=torch.ones_like(self.prompt), max_new_tokens=24,
                                      min_new_tokens=24, do_sample=True, top_k=0, pad_token_id=self.pad)
        self.model.train()
        loss = self.model(seq, labels=seq).loss
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()


class LoopbackTeacher:
    """The loopback rubric teacher in its own process (as a remote teacher would be: its threads do not
    compete with the trainer's for this process's interpreter lock)."""

    def __init__(self, latency: float):
        self.latency = latency

    def __enter__(self):
        import subprocess

        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "_loopback_teacher.py"), "--latency",
                                      str(self.latency)], stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def round_trip(url: str, n: int = 5) -> float:
    """Median seconds of one grading request to the teacher (what one round trip costs)."""
    from rlwhf.teacher.prompt import load_rubric

    body = json.dumps({"model": "teacher", "messages": load_rubric().messages(
        "What is 2 plus 2?", "The answer is 4.", "4", True)}).encode()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        req = urllib.request.Request(url + "/chat/completions", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.15, help="seconds the loopback teacher takes per request")
    ap.add_argument("--compute", choices=["real", "none"], default="real",
                    help="real: the policy's generate + update per step; none: the reward alone")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from rlwhf.reward.teacher_reward import TeacherReward, TeacherRewardConfig, balanced

    steps = make_steps(args.steps, args.seed)
    compute = PolicyCompute(args.compute == "real", args.seed)
    compute()  # warm-up: the first generate pays one-off costs
    tmp = Path(tempfile.mkdtemp(prefix="teacher_bench_"))
    sources = ("judge", "hybrid", "teacher")
    with LoopbackTeacher(args.latency) as server:
        rtt = round_trip(server.url)
        rewards = {s: TeacherReward(TeacherRewardConfig(source=s, base_url=server.url, model="teacher",
                                                        cache=str(tmp / f"{s}.sqlite")))
                   for s in sources}
        TeacherReward(TeacherRewardConfig()).score(steps[0]["completions"][:1], messages=steps[0]["messages"][:1])
        step_s = {s: [] for s in sources}
        wait_s = {s: [] for s in sources}
        for batch in steps:
            for s in sources:  # side by side: the same step, each source in turn
                t0 = time.perf_counter()
                compute()
                rewards[s].score(**batch)
                step_s[s].append(time.perf_counter() - t0)
                wait_s[s].append(rewards[s].last_stats["reward_wait_s"])
        first = {s: list(rewards[s].records) for s in sources}
        for batch in steps:  # a rerun over the same completions
            for s in ("hybrid", "teacher"):
                rewards[s].score(**batch)
        rerun = {s: rewards[s].records[len(first[s]):] for s in ("hybrid", "teacher")}
        rerun_requests = sum(r["http_requests"] for s in rerun for r in rerun[s])

    def tot(recs, key):
        return sum(r[key] for r in recs)

    print(f"{args.steps} GRPO steps x 64 completions; teacher latency {args.latency * 1000:.0f} ms "
          f"(one round trip measured: {rtt * 1000:.1f} ms); policy compute: {args.compute}")
    print(f"{'source':8} {'step_s':>7} {'wait_s':>7} {'requests':>8} {'http':>5} {'hits':>5} {'skips':>5} "
          f"{'fallbk':>6} {'judged':>6} balanced   (step_s, wait_s: means over the steps)")
    for s in sources:
        recs = first[s]
        print(f"{s:8} {statistics.mean(step_s[s]):7.3f} {statistics.mean(wait_s[s]):7.3f} "
              f"{tot(recs, 'requests'):8d} {tot(recs, 'http_requests'):5d} {tot(recs, 'cache_hits'):5d} "
              f"{tot(recs, 'hybrid_skips'):5d} {tot(recs, 'fallbacks'):6d} {tot(recs, 'judged'):6d} "
              f"{all(balanced(r) for r in recs)}")
    for s in ("hybrid", "teacher"):
        recs = rerun[s]
        print(f"{s + '*':8} {'':7} {statistics.mean(r['reward_wait_s'] for r in recs):7.3f} "
              f"{tot(recs, 'requests'):8d} {tot(recs, 'http_requests'):5d} {tot(recs, 'cache_hits'):5d} "
              f"{tot(recs, 'hybrid_skips'):5d} {tot(recs, 'fallbacks'):6d} {tot(recs, 'judged'):6d} "
              f"{all(balanced(r) for r in recs)}   (* rerun over the same completions)")
    # medians: on a shared machine a step now and then waits for a core, whichever source it runs
    judge_t, hybrid_t, teacher_t = (statistics.median(step_s[s]) for s in sources)
    print(f"median step time: judge {judge_t:.3f} s, hybrid {hybrid_t:.3f} s, teacher {teacher_t:.3f} s; median "
          f"reward wait: judge {statistics.median(wait_s['judge']) * 1000:.1f} ms, hybrid "
          f"{statistics.median(wait_s['hybrid']) * 1000:.1f} ms, teacher {statistics.median(wait_s['teacher']) * 1000:.1f} ms")
    ok_h = hybrid_t <= 1.15 * judge_t
    ok_t = teacher_t <= judge_t + rtt
    ok_r = rerun_requests == 0
    print(f"hybrid / judge step time: {hybrid_t / judge_t:.3f} (target <= 1.15): {'met' if ok_h else 'NOT met'}")
    print(f"teacher - judge step time: {(teacher_t - judge_t) * 1000:.1f} ms = {(teacher_t - judge_t) / rtt:.2f} "
          f"round trips (target <= 1): {'met' if ok_t else 'NOT met'}")
    print(f"requests made by the rerun: {rerun_requests} (target 0): {'met' if ok_r else 'NOT met'}")
    print(f"steps where hybrid asked the teacher: {sum(1 for r in first['hybrid'] if r['requests'] or r['fallbacks'])}"
          f"/{args.steps}; distinct answers a step (teacher): "
          f"{statistics.mean(r['requests'] + r['fallbacks'] for r in first['teacher']):.1f} of 64")
    return 0 if (ok_h and ok_t and ok_r) else 1


if __name__ == "__main__":
    sys.exit(main())
