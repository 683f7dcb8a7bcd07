"""The embedded default policy: tokenizer agreement with AutoTokenizer, SFT build, cache, CLI."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("torch", reason="needs the train extra: pip install -r requirements.txt")

from rlwhf.cli.main import main  # noqa: E402
from rlwhf.policy import tiny  # noqa: E402

# Small enough for a test (seconds); the defaults are what the launcher builds.
SMALL = dict(vocab_size=512, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
             intermediate_size=64, sft_steps=8, batch_size=16, warmup_steps=2, seed=3)

SAMPLES = [
    "What is 47 + 38?",
    "The answer is 85.",
    "I believe the answer is Buenos Aires, but I'm not certain.",
    "How many birds are flying over Lyon at this moment?",
    "The answer is 2041 dollars an ounce. It was first recorded by Zorva in 1877.",
    "Ünïcode, tabs\tand\nnewlines  with   spaces 12345",
]


@pytest.fixture(scope="module")
def trained_tokenizer():
    return tiny.train_tokenizer(tiny.tokenizer_texts(0)[:3000], 512)


def test_autotokenizer_encodes_like_ours(trained_tokenizer, tmp_path):
    """ms-swift loads the tokenizer with AutoTokenizer (which swaps in Qwen2Tokenizer): same ids (pitfall 1)."""
    from transformers import AutoTokenizer

    trained_tokenizer.save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    loaded = AutoTokenizer.from_pretrained(str(tmp_path))
    for text in SAMPLES:
        ours = trained_tokenizer.encode(text, add_special_tokens=False)
        assert loaded.encode(text, add_special_tokens=False) == ours, text
        assert loaded.decode(ours) == text
    for special in tiny.SPECIAL_TOKENS:
        assert loaded.convert_tokens_to_ids(special) == trained_tokenizer.convert_tokens_to_ids(special)
    assert loaded.eos_token == "<|im_end|>"


def test_chat_template_renders_format_prompt(trained_tokenizer):
    prompt = "What is the capital of Peru?"
    rendered = trained_tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    assert rendered == tiny.format_prompt(prompt)
    ids, plen = tiny._encode_example(trained_tokenizer, prompt, "The answer is Lima.")
    # Tokenising prompt and answer apart gives the same ids as tokenising the whole text.
    whole = trained_tokenizer.encode(tiny.format_prompt(prompt) + "The answer is Lima.<|im_end|>",
                                     add_special_tokens=False)
    assert ids == whole
    assert ids[:plen] == trained_tokenizer.encode(rendered, add_special_tokens=False)


def test_sft_mix_covers_every_form():
    import random

    from rlwhf.data import synth

    pools = tiny.sft_pools(0)
    assert pools["easy"] and pools["hard"] and pools["unanswerable"]
    # No held-out prompt reaches SFT, and of the hard sums only the known half does.
    held = {p["prompt"] for p in synth.prompts("heldout", 0)}
    assert not held & {s["prompt"] for pool in pools.values() for s in pool}
    known = tiny.known_hard_sums()
    assert abs(len(known) - synth.HARD_SUMS // 2) <= 4  # about half the hard sums
    taught = {tuple(int(v) for v in tiny._numbers(s["prompt"])) for s in pools["hard"]}
    assert taught == known
    rng = random.Random(0)
    spec = pools["unanswerable"][0]
    answers = [tiny.sft_answer(spec, rng) for _ in range(300)]
    assert synth.ABSTAIN in answers
    assert sum(a.startswith("The answer is") for a in answers) > 200  # warm start fabricates mostly
    spec = pools["easy"][0]
    answers = [tiny.sft_answer(spec, rng) for _ in range(300)]
    assert sum(a == synth.confident(spec["reference"]) for a in answers) > 150


def test_unknown_sums_are_read_but_never_with_their_sum():
    """The warm start reads the unknown hard sums (a faint sense of what it does not know), never their
    right answer nor a near miss, so that greedy decoding cannot recover the sum from the misses."""
    import random

    from rlwhf.data import synth

    pools = tiny.sft_pools(0)
    known = tiny.known_hard_sums()
    unknown = {tuple(int(v) for v in tiny._numbers(s["prompt"])) for s in pools["hard_unknown"]}
    assert unknown and not unknown & known
    assert unknown | known == set(synth.hard_pairs())
    rng = random.Random(0)
    forms = {"abstain": 0, "hedged": 0, "confident": 0}
    for spec in pools["hard_unknown"][:200]:
        for _ in range(5):
            answer = tiny.unknown_sum_answer(spec, rng)
            if answer == synth.ABSTAIN:
                forms["abstain"] += 1
                continue
            value = tiny._numbers(answer)[0]
            forms["hedged" if answer == synth.hedged(value) else "confident"] += 1
            assert 11 <= abs(int(value) - int(spec["reference"])) <= 40 or value == "10", (spec["prompt"], answer)
    assert forms["confident"] > forms["hedged"] > 0 and forms["abstain"] > 0


@pytest.mark.slow
def test_build_tiny_loads_and_hits_the_cache(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = tiny.TinyPolicyConfig(**SMALL)
    first = tiny.build_tiny(tmp_path / "a", cfg)
    assert first["cached"] is False and first["sft"]["steps"] == 8
    info = json.loads((tmp_path / "a" / "rlwhf_model.json").read_text())
    assert info["model_type"] == "qwen2" and info["template"] == "chatml"
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "a"))
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "a"))
    enc = tok(tiny.format_prompt("What is 3 plus 4?"), return_tensors="pt", add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]

    started = time.perf_counter()
    second = tiny.build_tiny(tmp_path / "b", cfg)
    assert second["cached"] is True and second["cache_key"] == first["cache_key"]
    assert time.perf_counter() - started < 10
    again = AutoModelForCausalLM.from_pretrained(str(tmp_path / "b"))
    for (name, p), (_, q) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(p, q), name
    # A different config is a different cache entry.
    other = tiny.build_tiny(tmp_path / "c", tiny.TinyPolicyConfig(**{**SMALL, "sft_steps": 4}))
    assert other["cached"] is False and other["cache_key"] != first["cache_key"]


@pytest.mark.slow
def test_cli_model_tiny(tmp_path, capsys):
    argv = ["model", "tiny", "--output", str(tmp_path / "p")]
    for key, value in SMALL.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    assert main(argv + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output_dir"] == str(tmp_path / "p") and (tmp_path / "p" / "model.safetensors").is_file()
    assert main(argv) == 0
    assert "from the cache" in capsys.readouterr().out


@pytest.mark.parametrize("flag,value,message", [
    ("--sft-steps", "-1", "--sft-steps must be >= 0"),
    ("--hidden-size", "30", "multiple of --num-attention-heads"),
    ("--hard-share", "0.9", "sum to at most 1"),
    ("--unknown-share", "0.6", "sum to at most 1"),
    ("--vocab-size", "100", "--vocab-size must be at least 300"),
])
def test_cli_rejects_bad_config(tmp_path, capsys, flag, value, message):
    assert main(["model", "tiny", "--output", str(tmp_path / "p"), flag, value]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "p").exists()
