"""The embedded default policy: a locally trained tokenizer and a small Qwen2 causal LM.

Nothing is downloaded. The tokenizer uses exactly the pre-tokenizer that transformers'
`Qwen2Tokenizer` installs, so that `AutoTokenizer.from_pretrained` (the way ms-swift loads it)
encodes the same ids as the tokenizer we trained (pitfall 1 in shared/notes/tiny-honesty-grpo.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

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
    hidden_size: int = field(default=128, metadata={"help": "model width"})
    num_hidden_layers: int = field(default=4, metadata={"help": "transformer blocks"})
    num_attention_heads: int = field(default=4, metadata={"help": "attention heads"})
    num_key_value_heads: int = field(default=2, metadata={"help": "KV heads (GQA)"})
    intermediate_size: int = field(default=384, metadata={"help": "MLP width"})
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
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
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
