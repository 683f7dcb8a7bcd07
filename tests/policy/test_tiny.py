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
def _padded_loss(model, examples, pad):
    """The default warm start's loss: each example a row, right-padded, `model(labels=...)`."""
    input_ids, attention, labels = tiny.pad_examples(examples, pad, 256)
    return model(input_ids=input_ids, attention_mask=attention, labels=labels).loss


def test_packed_batches_give_the_padded_loss_and_keep_examples_apart(trained_tokenizer):
    """The warm start packs its examples into shared rows (about a third fewer positions): the loss and its
    gradient are the padded batch's, and no example's logits depend on another's tokens."""
    import random

    import torch

    cfg = tiny.TinyModelConfig(vocab_size=len(trained_tokenizer), hidden_size=32, num_hidden_layers=2,
                               num_attention_heads=2, num_key_value_heads=1, intermediate_size=64, seed=5)
    model = tiny.build_model(trained_tokenizer, cfg)
    rng = random.Random(0)
    pools = tiny.sft_pools(0)
    specs = [rng.choice(pools["easy"] + pools["unanswerable"]) for _ in range(24)]
    examples = [tiny._encode_example(trained_tokenizer, s["prompt"], tiny.sft_answer(s, rng)) for s in specs]
    pad = trained_tokenizer.pad_token_id

    input_ids, position_ids, labels = tiny.pack_examples(examples, pad, 256, row_len=64)
    assert input_ids.shape[0] < len(examples) and input_ids.shape[1] == 64
    assert (labels != -100).sum() == sum(len(ids) - plen for ids, plen in examples)  # every answer token, once
    assert int((position_ids == 0).sum()) >= len(examples)  # each example starts its own positions

    packed = tiny.answer_loss(model, input_ids, position_ids, labels)
    packed.backward()
    packed_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    padded = _padded_loss(model, examples, pad)
    padded.backward()
    assert abs(packed.item() - padded.item()) < 1e-5
    for a, b in zip(packed_grads, (p.grad for p in model.parameters())):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)

    # Change the first row's first example: the logits of every other example in that row stay the same.
    first_len = int(position_ids[0].tolist()[1:].index(0)) + 1  # where the row's second sequence starts
    changed = input_ids.clone()
    changed[0, :first_len] = (changed[0, :first_len] + 7) % len(trained_tokenizer)
    with torch.no_grad():
        before = model(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits[0, first_len:]
        after = model(input_ids=changed, position_ids=position_ids, use_cache=False).logits[0, first_len:]
    torch.testing.assert_close(before, after)


def test_packing_cuts_long_examples_and_widens_rows_for_them():
    long = (list(range(300)), 10)
    short = (list(range(40)), 5)
    input_ids, position_ids, labels = tiny.pack_examples([short, long, short], pad=0, max_len=256, row_len=128)
    assert input_ids.shape == (2, 256)  # the cut example fills a row of its own; the two short ones share one
    assert position_ids[0, :40].tolist() == list(range(40)) and position_ids[0, 40:80].tolist() == list(range(40))
    assert int((labels[1] != -100).sum()) == 256 - 10


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
    # Padded batches (`--no-pack`): their own cache entry, the packed default's loss up to float rounding.
    padded = tiny.build_tiny(tmp_path / "d", tiny.TinyPolicyConfig(**{**SMALL, "pack": False}))
    recorded = {name: json.loads((tmp_path / name / "rlwhf_model.json").read_text())["sft_config"]["pack"]
                for name in ("a", "d")}
    assert recorded == {"a": True, "d": False}
    assert padded["cached"] is False and padded["cache_key"] not in (first["cache_key"], other["cache_key"])
    assert abs(padded["sft"]["final_loss"] - first["sft"]["final_loss"]) < 1e-3


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


def test_launch_builds_the_packed_warm_start_unless_told_not_to(tmp_path):
    """The default launch's policy stage builds the packed warm start; `--no-tiny-pack` the padded one,
    under its own cache key (the key padded builds had before packing existed)."""
    import argparse

    from rlwhf.config import add_arguments
    from rlwhf.launch import LaunchConfig, seed as launch_seed, stages

    assert LaunchConfig().tiny_pack is True and launch_seed.embedded_policy_config().pack is True
    parser = argparse.ArgumentParser()
    add_arguments(parser, LaunchConfig)
    assert parser.parse_args([]).tiny_pack is True and parser.parse_args(["--no-tiny-pack"]).tiny_pack is False
    packed = stages.make_policy(stages.PolicyInputs(output_dir=str(tmp_path / "p"), seed=3, sft_steps=2))
    info = json.loads((tmp_path / "p" / "rlwhf_model.json").read_text())
    assert packed.embedded and info["sft_config"]["pack"] is True and info["sft"]["steps"] == 2
    stages.make_policy(stages.PolicyInputs(output_dir=str(tmp_path / "d"), seed=3, sft_steps=2, pack=False))
    padded = json.loads((tmp_path / "d" / "rlwhf_model.json").read_text())
    assert padded["sft_config"]["pack"] is False and padded["cache_key"] != info["cache_key"]
