"""A stand-in for `swift rlhf` in the supervisor's fast tests: same flags, same output layout
(output_dir/v<N>-<ts>/logging.jsonl, checkpoint-N/ with trainer_state.json and safetensors weights),
and failure modes on demand. The real ms-swift runs are in tests/train/test_integration.py."""

import argparse
import json
import os
import signal
import struct
import sys
import time
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--output_dir", required=True)
p.add_argument("--model", default="")
p.add_argument("--dataset", default="")
p.add_argument("--rlhf_type", default="grpo")
p.add_argument("--max_steps", type=int, default=4)
p.add_argument("--save_steps", type=int, default=2)
p.add_argument("--per_device_train_batch_size", type=int, default=8)
p.add_argument("--gradient_accumulation_steps", type=int, default=1)
p.add_argument("--num_generations", type=int, default=8)
p.add_argument("--resume_from_checkpoint", default=None)
p.add_argument("--oom_above_batch", type=int, default=0, help="print a CUDA OOM error when the batch is larger")
p.add_argument("--oom_at_step", type=int, default=1, help="... at this step")
p.add_argument("--fail_at_step", type=int, default=0, help="raise an ordinary error at this step")
p.add_argument("--sigkill_at_step", type=int, default=0, help="SIGKILL itself at this step (first run only)")
p.add_argument("--step_sleep", type=float, default=0.0)
args, _unknown = p.parse_known_args()

root = Path(args.output_dir)
root.mkdir(parents=True, exist_ok=True)
run = root / f"v{len(list(root.glob('v*-*')))}-{time.strftime('%Y%m%d-%H%M%S')}"
run.mkdir()
start = 0
if args.resume_from_checkpoint:
    start = json.loads((Path(args.resume_from_checkpoint) / "trainer_state.json").read_text())["global_step"]
    print(f"Continuing training from checkpoint, will skip to saved global_step {start}", flush=True)


def save(step):
    ckpt = run / f"checkpoint-{step}"
    ckpt.mkdir()
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (ckpt / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    (ckpt / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": args.max_steps}))


with open(run / "logging.jsonl", "a") as log:
    for step in range(start + 1, args.max_steps + 1):
        time.sleep(args.step_sleep)
        if step == args.oom_at_step and 0 < args.oom_above_batch < args.per_device_train_batch_size:
            print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", file=sys.stderr)
            sys.exit(1)
        if step == args.fail_at_step:
            raise ValueError("the dataset has no column named 'messages'")
        if step == args.sigkill_at_step and not args.resume_from_checkpoint:
            os.kill(os.getpid(), signal.SIGKILL)
        record = {"loss": 0.5 / step, "reward": -1.0 + step * 0.25, "reward_std": 0.5, "kl": 0.01 * step,
                  "step_time": 0.01, "global_step/max_steps": f"{step}/{args.max_steps}"}
        log.write(json.dumps(record) + "\n")
        log.flush()
        if step % args.save_steps == 0 or step == args.max_steps:
            save(step)
    log.write(json.dumps({"last_model_checkpoint": str(run / f"checkpoint-{args.max_steps}")}) + "\n")
