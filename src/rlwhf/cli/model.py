"""`rlwhf model`: the embedded default policy."""

from __future__ import annotations

import json


def register(sub):
    from rlwhf.config import add_arguments
    from rlwhf.policy.tiny import TinyPolicyConfig

    p = sub.add_parser("model", help="build the embedded default policy")
    p.set_defaults(group_parser=p)
    msub = p.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    tiny = msub.add_parser(
        "tiny",
        help="local tokenizer + small Qwen2 + SFT warm start (cached by content hash)",
        description="Train a tokenizer on the built-in corpus, build a small Qwen2 causal LM and warm-start it "
        "by SFT on honest and dishonest answers, so that before RL it answers what it knows and invents the "
        "rest. Cached under $RLWHF_CACHE_DIR (default ~/.cache/rlwhf): a second call copies the cached folder.",
    )
    tiny.add_argument("--output", required=True, help="folder to write the policy to")
    add_arguments(tiny, TinyPolicyConfig)
    tiny.add_argument("--json", action="store_true", help="print the build summary as JSON")
    tiny.set_defaults(func=_tiny)


def _tiny(args) -> int:
    from rlwhf.config import from_namespace
    from rlwhf.policy.tiny import TinyPolicyConfig, build_tiny

    cfg = from_namespace(TinyPolicyConfig, args, output=args.output)
    info = build_tiny(args.output, cfg)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        how = "from the cache" if info["cached"] else f"built ({info['sft']['steps']} SFT steps)"
        print(f"{info['output_dir']}: tiny policy, {info['parameters']:,} parameters, {how} "
              f"in {info['seconds']:.1f}s (cache key {info['cache_key']})")
    return 0
