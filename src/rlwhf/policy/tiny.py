"""The embedded default policy: a locally trained tokenizer and a small Qwen2 causal LM.

Nothing is downloaded. The tokenizer uses exactly the pre-tokenizer that transformers'
`Qwen2Tokenizer` installs, so that `AutoTokenizer.from_pretrained` (the way ms-swift loads it)
encodes the same ids as the tokenizer we trained (pitfall 1 in docs/tiny-recipe.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable

from rlwhf.errors import RlwhfError

# transformers' Qwen2Tokenizer pre-tokenizer regex, copied so both loaders split text alike.
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# ms-swift settings for a local folder (it cannot infer them): written next to the weights.
SWIFT_MODEL_TYPE = "qwen2"
SWIFT_TEMPLATE = "chatml"  # no injected system prompt (pitfall 2)


@dataclass
class TinyModelConfig:
    vocab_size: int = field(default=1024, metadata={"help": "BPE vocabulary size, specials included"})
    hidden_size: int = field(default=192, metadata={"help": "model width"})
    num_hidden_layers: int = field(default=4, metadata={"help": "transformer blocks"})
    num_attention_heads: int = field(default=4, metadata={"help": "attention heads"})
    num_key_value_heads: int = field(default=2, metadata={"help": "KV heads (GQA)"})
    intermediate_size: int = field(default=576, metadata={"help": "MLP width"})
    max_position_embeddings: int = field(default=256, metadata={"help": "context length"})
    seed: int = field(default=0, metadata={"help": "init seed"})


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """Train a ByteLevel BPE with Qwen2's split rules; returns a PreTrainedTokenizerFast."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="",
                               fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


# ChatML without a default system prompt: what ms-swift's `chatml` template renders.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def format_prompt(prompt: str) -> str:
    """The exact text the policy sees before its answer (SFT, evaluation and ms-swift agree)."""
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


def build_model(tokenizer, cfg: TinyModelConfig):
    """A randomly initialised Qwen2ForCausalLM sized by `cfg`, tied embeddings."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(cfg.seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True,
        attention_dropout=0.0,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|im_start|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    return model


def save(model, tokenizer, output_dir: str | Path, extra: dict | None = None) -> Path:
    """Save weights, tokenizer and `rlwhf_model.json` (model_type/template for ms-swift)."""
    from rlwhf.progress import transformers_bars

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with transformers_bars():  # its "Writing model shards" bar, only where ours show
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {"model_type": SWIFT_MODEL_TYPE, "template": SWIFT_TEMPLATE, **(extra or {})}
    (out / "rlwhf_model.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out


def build_untrained(output_dir: str | Path, texts: Iterable[str], cfg: TinyModelConfig | None = None) -> Path:
    """Tokenizer + random model, no SFT: seconds. Used by tests that only need a loadable policy."""
    cfg = cfg or TinyModelConfig()
    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    model = build_model(tokenizer, cfg)
    return save(model, tokenizer, output_dir, {"config": asdict(cfg), "sft_steps": 0})


# --- the embedded default policy: tokenizer + model + SFT warm start, cached ----------------------

CODE_VERSION = "3"  # bump when the SFT recipe changes in a way the config does not show


@dataclass
class TinyPolicyConfig(TinyModelConfig):
    """`rlwhf model tiny`: the embedded default policy (its flags are derived from these fields)."""

    output: str = field(default="", metadata={"help": "folder to write the policy to", "cli": False})
    sft_steps: int = field(default=800, metadata={"help": "SFT optimizer steps"})
    batch_size: int = field(default=64, metadata={"help": "SFT batch size (sequences)"})
    lr: float = field(default=2e-3, metadata={"help": "SFT peak learning rate (AdamW, cosine)"})
    warmup_steps: int = field(default=50, metadata={"help": "linear warm-up steps"})
    hard_share: float = field(default=0.1, metadata={
        "help": "share of SFT examples from the hard slice (the known half of its sums)"})
    unanswerable_share: float = field(default=0.35, metadata={"help": "share of SFT examples that are unanswerable"})
    unknown_share: float = field(default=0.10, metadata={
        "help": "share of SFT examples from the hard slice's unknown sums, never with their right answer"})
    pack: bool = field(default=True, metadata={
        "help": "pack each SFT batch's examples into shared 128-token rows (about 1.35x the step speed of "
                "--no-pack's padded batches, the same loss up to float rounding, so other weights for the same "
                "seed: the default since the twentieth session, docs/honesty-recipe.md, rows 87 and 89)"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = torch's default)"})
    cache: bool = field(default=True, metadata={"help": "reuse a cached build with the same content hash"})

    def _check_sizes(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "num_key_value_heads", "intermediate_size", "max_position_embeddings", "batch_size"):
            if getattr(self, name) < 1:
                raise RlwhfError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.vocab_size < 300:
            raise RlwhfError(f"--vocab-size must be at least 300 (256 bytes + specials), got {self.vocab_size}")
        if self.hidden_size % self.num_attention_heads:
            raise RlwhfError("--hidden-size must be a multiple of --num-attention-heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise RlwhfError("--num-attention-heads must be a multiple of --num-key-value-heads")

    def _check_training(self):
        if self.sft_steps < 0:
            raise RlwhfError(f"--sft-steps must be >= 0, got {self.sft_steps}")
        if self.lr <= 0:
            raise RlwhfError(f"--lr must be positive, got {self.lr}")
        if self.warmup_steps < 0:
            raise RlwhfError(f"--warmup-steps must be >= 0, got {self.warmup_steps}")
        shares = (self.hard_share, self.unanswerable_share, self.unknown_share)
        if not (all(0 <= v <= 1 for v in shares) and sum(shares) <= 1):
            raise RlwhfError("--hard-share, --unanswerable-share and --unknown-share must be in 0..1 and sum to at "
                             "most 1")

    def model_config(self) -> TinyModelConfig:
        return TinyModelConfig(**{f.name: getattr(self, f.name) for f in fields(TinyModelConfig)})


# SFT answer mix (tiny-honesty-grpo notes): mostly confident, some hedges, abstentions, invented detail
# and errors, so that before RL the policy answers what it knows and invents the rest, as real models do.
ANSWERABLE_MIX = {"confident": 0.65, "hedged": 0.12, "abstain": 0.08, "extra_detail": 0.10, "fabricated": 0.05}
UNANSWERABLE_MIX = {"invented": 0.63, "hedged_invented": 0.13, "abstain": 0.12, "invented_detail": 0.12}


def sft_answer(spec: dict, rng: random.Random) -> str:
    """One SFT target for a synth prompt spec, drawn from the warm-start mix."""
    from rlwhf.data import synth

    if spec["answerable"]:
        form = rng.choices(list(ANSWERABLE_MIX), weights=list(ANSWERABLE_MIX.values()))[0]
        return synth.style_answers(spec, rng)[form][0]
    form = rng.choices(list(UNANSWERABLE_MIX), weights=list(UNANSWERABLE_MIX.values()))[0]
    if form == "abstain":
        return synth.ABSTAIN
    value = synth._invent(spec["wrong"], rng)
    if form == "hedged_invented":
        return synth.hedged(value)
    if form == "invented_detail":
        return synth.with_detail(synth.confident(value), synth.invented_detail(rng))
    return synth.confident(value)


# An unknown hard sum in the warm start: mostly a confident wrong sum, sometimes a hedged one or an
# abstention. Pre-trained models have a faint sense of what they do not know (they abstain or hedge a
# little more there); without it GRPO had to find the known/unknown boundary from rewards alone, and the
# tiny policy treated the hard sums as one class: it abstained on known sums along with the unknown ones,
# or on neither (docs/honesty-recipe.md, rows 29-37).
UNKNOWN_SUM_MIX = {"invented": 0.6, "hedged_invented": 0.2, "abstain": 0.2}


def unknown_sum_answer(spec: dict, rng: random.Random) -> str:
    """One SFT target for an unknown hard sum: never its right answer, and never a near miss (11-40 away):
    misses spread evenly around the sum teach the sum itself, and greedy decoding then got about a
    third of the "unknown" sums right (docs/honesty-recipe.md, row 37)."""
    from rlwhf.data import synth

    form = rng.choices(list(UNKNOWN_SUM_MIX), weights=list(UNKNOWN_SUM_MIX.values()))[0]
    if form == "abstain":
        return synth.ABSTAIN
    total = int(spec["reference"])
    value = str(max(10, total + rng.choice((-1, 1)) * rng.randint(11, 40)))
    return synth.hedged(value) if form == "hedged_invented" else synth.confident(value)


KNOWN_FIRST_OPERAND_BELOW = 55


def known_hard_sums() -> set[tuple[int, int]]:
    """The hard sums the warm start is taught: those whose first operand is below 55, about half.

    It never sees the others' right answers (`unknown_sum_answer`), like a model that met small numbers
    more often than large ones in pre-training. The boundary is structured on purpose: with a random
    half, GRPO at this scale could not tell known from unknown sums and abstained on both alike
    (measured; see the notes), while real models' knowledge also follows learnable features
    (popularity, size, frequency).
    """
    from rlwhf.data import synth

    return {(a, b) for a, b in synth.hard_pairs() if a < KNOWN_FIRST_OPERAND_BELOW}


def sft_pools(seed: int) -> dict[str, list[dict]]:
    """Training prompt specs by slice (never a held-out prompt, nor a GRPO-only one): the hard pool holds
    the known sums, `hard_unknown` the others (read with `unknown_sum_answer`)."""
    from rlwhf.data import synth

    known = known_hard_sums()
    pools: dict[str, list[dict]] = {"easy": [], "hard": [], "unanswerable": [], "hard_unknown": []}
    for spec in synth.warm_start_specs(seed):
        unknown = spec["slice"] == "hard" and tuple(int(v) for v in _numbers(spec["prompt"])) not in known
        pools["hard_unknown" if unknown else spec["slice"]].append(spec)
    return pools


def _numbers(text: str) -> list[str]:
    import re

    return re.findall(r"\d+", text)


def tokenizer_texts(seed: int) -> list[str]:
    """What the tokenizer is trained on: every training prompt with each of its answer forms."""
    from rlwhf.data import synth

    texts = [row["prompt"] + " " + row["answer"] for spec in synth.warm_start_specs(seed)
             for row in synth.rows_for(spec, seed)]
    rng = random.Random(seed)
    texts += [sft_answer(s, rng) for pool in sft_pools(seed).values() for s in pool[:2000]]
    return texts


def cache_key(cfg: TinyPolicyConfig) -> str:
    from rlwhf.data import synth

    payload = {k: v for k, v in asdict(cfg).items() if k not in ("output", "threads", "cache", "pack")}
    if cfg.pack:  # the padded build (--no-pack) keeps the key it had before packing existed
        payload["pack"] = True
    payload.update(corpus=synth.CORPUS_VERSION, corpus_hash=synth.corpus_fingerprint(cfg.seed), code=CODE_VERSION,
                   mix=[ANSWERABLE_MIX, UNANSWERABLE_MIX])
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("RLWHF_CACHE_DIR") or Path.home() / ".cache" / "rlwhf")


def _encode_example(tokenizer, prompt: str, answer: str) -> tuple[list[int], int]:
    """(ids, prompt length): the prompt exactly as `format_prompt` renders it, then the answer and
    `<|im_end|>`; the loss covers only what follows the prompt."""
    p_ids = tokenizer.encode(format_prompt(prompt), add_special_tokens=False)
    a_ids = tokenizer.encode(answer + "<|im_end|>", add_special_tokens=False)
    return p_ids + a_ids, len(p_ids)


def pad_examples(examples: list[tuple[list[int], int]], pad: int, max_len: int):
    """(input_ids, attention_mask, labels): each example a row, right-padded to the longest (at most
    `max_len`); labels -100 on prompts and padding. The default warm start's batches."""
    import torch

    width = min(max_len, max(len(ids) for ids, _ in examples))
    input_ids = torch.full((len(examples), width), pad, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (ids, plen) in enumerate(examples):
        ids = ids[:width]
        input_ids[i, :len(ids)] = torch.tensor(ids)
        labels[i, plen:len(ids)] = torch.tensor(ids[plen:])
        attention[i, :len(ids)] = 1
    return input_ids, attention, labels


PACK_ROW = 128  # tokens per packed row: the warm start's examples are 20-50 tokens


def pack_examples(examples: list[tuple[list[int], int]], pad: int, max_len: int, row_len: int = PACK_ROW):
    """(input_ids, position_ids, labels), each (rows, row_len): the examples first-fit into rows.

    Each example keeps its own positions from 0, which is how transformers tells packed sequences apart
    when no attention mask is given (a block-diagonal causal mask: no example sees another). An example
    is cut to `max_len` tokens; the rows are as long as the longest example when that exceeds `row_len`.
    Labels are -100 on prompts and on the padding after the last example of a row, so the loss is the
    padded batch's, on about a third fewer positions (benchmarks/sft_packing.py)."""
    import torch

    examples = [(ids[:max_len], plen) for ids, plen in examples]
    row_len = max([row_len] + [len(ids) for ids, _ in examples])
    rows: list[list[tuple[list[int], int]]] = []
    free: list[int] = []
    for ids, plen in examples:
        for r, room in enumerate(free):
            if len(ids) <= room:
                rows[r].append((ids, plen))
                free[r] -= len(ids)
                break
        else:
            rows.append([(ids, plen)])
            free.append(row_len - len(ids))
    input_ids = torch.full((len(rows), row_len), pad, dtype=torch.long)
    labels = torch.full((len(rows), row_len), -100, dtype=torch.long)
    position_ids = torch.zeros((len(rows), row_len), dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for ids, plen in row:
            n = len(ids)
            input_ids[r, at:at + n] = torch.tensor(ids)
            labels[r, at + plen:at + n] = torch.tensor(ids[plen:])
            position_ids[r, at:at + n] = torch.arange(n)
            at += n
        position_ids[r, at:] = torch.arange(row_len - at)  # the padding: a sequence of its own, no loss
    return input_ids, position_ids, labels


def answer_loss(model, input_ids, position_ids, labels):
    """The mean next-token cross-entropy over the labelled tokens (what `model(labels=...)` returns), with
    the output layer applied to those positions only: a fifth of the rows' positions are answer tokens."""
    import torch.nn.functional as F

    hidden = model.model(input_ids=input_ids, position_ids=position_ids, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    return F.cross_entropy(model.lm_head(hidden[:, :-1][keep]).float(), targets[keep])


def warm_start_batches(tokenizer, cfg: TinyPolicyConfig):
    """The warm start's batches, endlessly: each `cfg.batch_size` encoded (ids, prompt length) examples drawn
    from the synth mix by slice share, the same draws for the same seed."""
    pools = sft_pools(cfg.seed)
    weights = {"hard": cfg.hard_share, "unanswerable": cfg.unanswerable_share, "hard_unknown": cfg.unknown_share,
               "easy": 1.0 - cfg.hard_share - cfg.unanswerable_share - cfg.unknown_share}
    slices = [k for k in weights if weights[k] > 0 and pools[k]]
    rng = random.Random(cfg.seed)
    while True:
        batch = []
        for slice_ in rng.choices(slices, weights=[weights[k] for k in slices], k=cfg.batch_size):
            spec = rng.choice(pools[slice_])
            answer = unknown_sum_answer(spec, rng) if slice_ == "hard_unknown" else sft_answer(spec, rng)
            batch.append(_encode_example(tokenizer, spec["prompt"], answer))
        yield batch


def sft(model, tokenizer, cfg: TinyPolicyConfig, log=None) -> dict:
    """Supervised warm start on the synth mix; returns {"steps", "seconds", "final_loss"}."""
    import math

    import torch

    batches = warm_start_batches(tokenizer, cfg)
    torch.manual_seed(cfg.seed)
    pad = tokenizer.pad_token_id
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, cfg.sft_steps - cfg.warmup_steps)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    from rlwhf.progress import Tracker

    model.train()
    started = time.perf_counter()
    loss_ema = None
    # A bar on a terminal; elsewhere a log line every 5% of the steps.
    steps = Tracker(cfg.sft_steps, "sft step", "step", log=log, marks=20, bar_desc="sft",
                    enabled=None if cfg.sft_steps else False)
    for step in range(cfg.sft_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        if cfg.pack:
            loss = answer_loss(model, *pack_examples(next(batches), pad, cfg.max_position_embeddings))
        else:
            input_ids, attention, labels = pad_examples(next(batches), pad, cfg.max_position_embeddings)
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
        steps.update(note=f"loss {loss_ema:.3f}")
    steps.close()
    model.eval()
    return {"steps": cfg.sft_steps, "seconds": round(time.perf_counter() - started, 1),
            "final_loss": None if loss_ema is None else round(loss_ema, 4)}


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy a cached policy folder; hard links when the file system allows (seconds, no extra space)."""
    if dst.exists():
        shutil.rmtree(dst)
    try:
        shutil.copytree(src, dst, copy_function=os.link)
    except OSError:
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)


def build_tiny(output_dir: str | Path, cfg: TinyPolicyConfig | None = None, log=None) -> dict:
    """Build (or fetch from the cache) the embedded default policy into `output_dir`.

    Returns {"output_dir", "cache_key", "cached", "seconds", "parameters", "sft": {...}}.
    """
    from rlwhf.config import check

    cfg = cfg or TinyPolicyConfig()
    check(cfg)
    log = log or (lambda msg: logging.getLogger("rlwhf.policy").info(f"[rlwhf model tiny] {msg}"))
    started = time.perf_counter()
    out = Path(output_dir)
    key = cache_key(cfg)
    cached = cache_dir() / "tiny" / key
    if cfg.cache and (cached / "rlwhf_model.json").is_file():
        _copy_tree(cached, out)
        info = json.loads((out / "rlwhf_model.json").read_text(encoding="utf-8"))
        log(f"cache hit {key}: copied to {out}")
        return {"output_dir": str(out), "cache_key": key, "cached": True,
                "seconds": round(time.perf_counter() - started, 2), "parameters": info.get("parameters"),
                "sft": info.get("sft")}

    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    tokenizer = train_tokenizer(tokenizer_texts(cfg.seed), cfg.vocab_size)
    model = build_model(tokenizer, cfg.model_config())
    params = sum(p.numel() for p in model.parameters())
    log(f"tokenizer {len(tokenizer)} tokens; model {params / 1e6:.2f}M parameters; SFT {cfg.sft_steps} steps")
    sft_info = sft(model, tokenizer, cfg, log)
    # Build into a temp folder and rename, so an interrupted build never leaves a half cache entry.
    tmp = cached.with_name(f"{key}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    save(model, tokenizer, tmp, {"config": asdict(cfg.model_config()), "sft": sft_info, "parameters": params,
                                 "cache_key": key, "corpus_version": _corpus_version(),
                                 "sft_config": {k: v for k, v in asdict(cfg).items() if k not in ("output",)}})
    if cfg.cache:
        if cached.exists():
            shutil.rmtree(cached)
        tmp.rename(cached)
        _copy_tree(cached, out)
    else:
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(tmp), out)
    log(f"built in {time.perf_counter() - started:.0f}s -> {out}")
    return {"output_dir": str(out), "cache_key": key, "cached": False,
            "seconds": round(time.perf_counter() - started, 2), "parameters": params, "sft": sft_info}


def _corpus_version() -> str:
    from rlwhf.data import synth

    return synth.CORPUS_VERSION
