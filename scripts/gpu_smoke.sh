#!/usr/bin/env bash
# GPU smoke: a real-sized policy through the single_gpu plan for a few GRPO steps, run twice on the same
# plan: once through `rlwhf train` (supervision + telemetry) and once as the bare `swift rlhf` command.
# Prints step time and peak GPU memory of both, side by side.
#
#   MODEL=/path/to/local/qwen2-model bash scripts/gpu_smoke.sh     # real weights
#   bash scripts/gpu_smoke.sh                                      # 0.5B Qwen2 config, random weights
# Env: STEPS (default 5), WORK (default workspace/gpu_smoke), PROFILE (default single_gpu).
set -euo pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
STEPS=${STEPS:-5}
WORK=${WORK:-workspace/gpu_smoke}
PROFILE=${PROFILE:-single_gpu}
mkdir -p "$WORK"
rlwhf doctor | tee "$WORK/doctor.txt"

if [ -z "${MODEL:-}" ]; then
  MODEL="$WORK/qwen2-0.5b-random"
  python3 - "$MODEL" <<'PY'
import sys
from rlwhf.data.synth import iter_synth
from rlwhf.policy.tiny import TinyModelConfig, build_model, save, train_tokenizer
out = sys.argv[1]
texts = [r["prompt"] + " " + r["answer"] for r in iter_synth(20000, seed=0)]
tok = train_tokenizer(texts, 4096)
# Qwen2.5-0.5B's shape (vocab padded to the real 151,936 rows so the embedding is real-sized).
cfg = TinyModelConfig(vocab_size=4096, hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                      num_key_value_heads=2, intermediate_size=4864, max_position_embeddings=2048)
model = build_model(tok, cfg)
model.resize_token_embeddings(151936)
n = sum(p.numel() for p in model.parameters())
print(f"built a random-weight Qwen2 with {n/1e6:.0f}M parameters")
save(model, tok, out, {"random_weights": True, "parameters": n})
PY
fi

rlwhf data synth --output "$WORK/logs.jsonl" --n 4000 --split train
rlwhf data preprocess --input "$WORK/logs.jsonl" --output "$WORK/grpo.jsonl" --format swift-grpo
rlwhf reward build --dataset "$WORK/logs.jsonl" --output-dir "$WORK/reward"
rlwhf plan --algo grpo --profile "$PROFILE" --model "$MODEL" --dataset "$WORK/grpo.jsonl" \
  --reward-artifact "$WORK/reward/honesty_reward_model.json" --output "$WORK/plan.json" \
  --output-dir "$WORK/train_rlwhf" --set "max_steps=$STEPS" --set save_steps=1000
rlwhf plan --validate "$WORK/plan.json"

t0=$(date +%s.%N)
rlwhf train --plan "$WORK/plan.json"
t1=$(date +%s.%N)
# The same plan, bare: its own shell line with another output dir (the plan's args are the source).
python3 - "$WORK/plan.json" "$WORK/plan_bare.json" "$WORK/train_bare" <<'PY'
import sys
from rlwhf.plan import LaunchPlan
LaunchPlan.load(sys.argv[1]).with_args({"output_dir": sys.argv[3]}).write(sys.argv[2])
PY
bash -c "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["shell"])' "$WORK/plan_bare.json")"
t2=$(date +%s.%N)

python3 - "$WORK" "$t0" "$t1" "$t2" <<'PY'
import json, statistics, sys
from pathlib import Path
work, t0, t1, t2 = Path(sys.argv[1]), *map(float, sys.argv[2:])
def figures(d):
    rows = [json.loads(l) for p in Path(d).rglob("logging.jsonl") for l in open(p) if l.strip()]
    steps = [r for r in rows if "step_time" in r]
    return (statistics.median(r["step_time"] for r in steps[1:] or steps),
            max((r.get("memory(GiB)", 0.0) for r in steps), default=0.0), len(steps))
a, b = figures(work / "train_rlwhf"), figures(work / "train_bare")
print(f"{'run':<14}{'steps':>6}{'median step s':>15}{'peak GPU GiB':>14}{'wall s':>9}")
print(f"{'rlwhf train':<14}{a[2]:>6}{a[0]:>15.3f}{a[1]:>14.2f}{t1 - t0:>9.1f}")
print(f"{'bare swift':<14}{b[2]:>6}{b[0]:>15.3f}{b[1]:>14.2f}{t2 - t1:>9.1f}")
print(f"wall ratio rlwhf/bare: {(t1 - t0) / (t2 - t1):.3f}")
PY
