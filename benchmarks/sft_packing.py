"""The embedded policy's warm start: padded batches against packed ones (`rlwhf.policy.tiny.pack_examples`).

Both variants train the default-sized tiny policy from the same initial weights on the same warm-start
batches (`tiny.warm_start_batches`, `--seed`), step by step and alternating (padded, packed, then packed,
padded, ...), so that a machine slowing down favours neither. Padded (`tiny.pad_examples`, the default
warm start): each example a row, right-padded to the batch's longest, `model(labels=...)`. Packed
(`rlwhf model tiny --pack`): the examples first-fit into 128-token rows with their own positions, the
output layer on answer tokens only (`tiny.pack_examples`, `tiny.answer_loss`). Prints positions computed
per step, the median step time of each (the first `--skip` steps left out), their ratio, and how far
apart the two losses are (the first step's should agree to float rounding; later steps drift apart as
the two models' float rounding does).

    python benchmarks/sft_packing.py [--steps 40] [--skip 5] [--seed 42] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--skip", type=int, default=5, help="first steps left out of the medians (warm-up)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the launch's default on 2 cores)")
    ns = ap.parse_args()
    if ns.steps <= ns.skip:
        ap.error("--steps must exceed --skip")

    import torch

    from rlwhf.policy import tiny

    torch.set_num_threads(ns.threads)
    cfg = tiny.TinyPolicyConfig(seed=ns.seed)
    tokenizer = tiny.train_tokenizer(tiny.tokenizer_texts(cfg.seed), cfg.vocab_size)
    pad = tokenizer.pad_token_id
    batches = tiny.warm_start_batches(tokenizer, cfg)

    def padded(examples):
        input_ids, attention, labels = tiny.pad_examples(examples, pad, cfg.max_position_embeddings)
        return input_ids.numel(), lambda m: m(input_ids=input_ids, attention_mask=attention, labels=labels).loss

    def packed(examples):
        input_ids, position_ids, labels = tiny.pack_examples(examples, pad, cfg.max_position_embeddings)
        return input_ids.numel(), lambda m: tiny.answer_loss(m, input_ids, position_ids, labels)

    variants = {"padded": padded, "packed": packed}
    state = {}
    for name in variants:
        model = tiny.build_model(tokenizer, cfg.model_config())
        model.train()
        state[name] = (model, torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01,
                                                 betas=(0.9, 0.98)))
    times = {name: [] for name in variants}
    losses = {name: [] for name in variants}
    positions = {name: [] for name in variants}
    tokens = []
    print(f"tiny policy, seed {ns.seed}, batch {cfg.batch_size}, {ns.steps} steps per variant, alternating, "
          f"{ns.threads} threads")
    for step in range(ns.steps):
        examples = next(batches)
        tokens.append(sum(len(ids) for ids, _ in examples))
        order = list(variants) if step % 2 == 0 else list(variants)[::-1]
        for name in order:
            model, opt = state[name]
            started = time.perf_counter()
            n, loss_of = variants[name](examples)
            loss = loss_of(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            times[name].append(time.perf_counter() - started)
            losses[name].append(loss.item())
            positions[name].append(n)

    print(f"tokens per step (mean): {statistics.mean(tokens):.0f}")
    for name in variants:
        print(f"  {name:6s}: {statistics.mean(positions[name]):6.0f} positions per step, median step "
              f"{statistics.median(times[name][ns.skip:]):.3f} s (steps {ns.skip + 1}-{ns.steps})")
    ratio = statistics.median(times["padded"][ns.skip:]) / statistics.median(times["packed"][ns.skip:])
    print(f"speed-up packed over padded (median step time ratio): {ratio:.2f}x")
    first = abs(losses["padded"][0] - losses["packed"][0])
    worst = max(abs(a - b) for a, b in zip(losses["padded"], losses["packed"]))
    print(f"loss: first step {losses['padded'][0]:.6f} padded, {losses['packed'][0]:.6f} packed "
          f"(|diff| {first:.1e}); largest |diff| over the {ns.steps} steps {worst:.1e}; last step "
          f"{losses['padded'][-1]:.4f} / {losses['packed'][-1]:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
