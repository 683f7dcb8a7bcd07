"""Greedy batched generation: order kept, batch-size invariant (left padding), stops at eos, no grad."""

import copy

import pytest

torch = pytest.importorskip("torch")

from rlwhf.evaluate.generate import generate_answers, load_policy, render_prompts  # noqa: E402

PROMPTS = [f"What is {i} plus {i * 7}?" + " Please answer." * (i % 4) for i in range(12)]


@pytest.fixture(scope="module")
def chatty_policy(tiny_model_dir):
    """The tiny untrained policy with loud weights, so greedy answers are long and differ per prompt."""
    model, tok = load_policy(tiny_model_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model, tok


def test_chat_template_with_generation_prompt(tiny_model_dir):
    _, tok = load_policy(tiny_model_dir)
    assert tok.padding_side == "left"
    assert render_prompts(tok, ["Hi?"]) == ["<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n"]
    plain = copy.deepcopy(tok)
    plain.chat_template = None
    assert render_prompts(plain, ["Hi?"]) == ["Hi?"]


def test_batched_equals_one_by_one_and_keeps_order(chatty_policy):
    stats = {}
    batched = generate_answers(chatty_policy, PROMPTS, batch_size=5, max_new_tokens=6, stats=stats)
    single = generate_answers(chatty_policy, PROMPTS, batch_size=1, max_new_tokens=6)
    assert batched == single
    assert len(set(batched)) > 1 and all(batched)
    assert stats["prompts"] == 12 and stats["batches"] == 3 and 0 < stats["new_tokens"] <= 12 * 6
    assert stats["threads"] == 1  # a tiny policy on CPU decodes on one thread
    grad_modes = []
    hook = chatty_policy[0].register_forward_pre_hook(lambda *_: grad_modes.append(torch.is_grad_enabled()))
    try:
        again = generate_answers(chatty_policy, PROMPTS, batch_size=5, max_new_tokens=6)
    finally:
        hook.remove()
    assert again == batched  # greedy: deterministic
    assert generate_answers(chatty_policy, [{"prompt": p} for p in PROMPTS[:3]], max_new_tokens=6) == batched[:3]
    assert grad_modes and not any(grad_modes)  # every forward pass ran under no_grad


def test_thread_setting_is_restored(chatty_policy):
    before = torch.get_num_threads()
    stats = {}
    generate_answers(chatty_policy, PROMPTS[:2], max_new_tokens=2, stats=stats, threads=2)
    assert stats["threads"] == 2 and torch.get_num_threads() == before


def test_stops_at_eos(chatty_policy):
    model, tok = chatty_policy
    enc = tok(render_prompts(tok, PROMPTS[:1]), return_tensors="pt", add_special_tokens=False)
    first = int(model.generate(**enc, max_new_tokens=1, do_sample=False)[0, -1])
    as_eos = copy.deepcopy(tok)
    as_eos.eos_token = tok.convert_ids_to_tokens(first)  # the first token the policy emits now ends it
    stats = {}
    assert generate_answers((model, as_eos), PROMPTS[:1], max_new_tokens=6, stats=stats) == [""]
    assert stats["new_tokens"] == 0
    assert generate_answers(chatty_policy, PROMPTS[:1], max_new_tokens=6) != [""]


def test_not_a_model_folder_is_a_clear_error(tmp_path):
    from rlwhf.errors import RlwhfError

    with pytest.raises(RlwhfError, match="no config.json"):
        generate_answers(tmp_path, ["hi"])


def test_sample_answers_give_each_prompt_its_own_samples_the_same_for_a_seed(chatty_policy):
    from rlwhf.evaluate.generate import sample_answers

    stats = {}
    first = sample_answers(chatty_policy, PROMPTS, samples=3, temperature=1.0, seed=5, batch_size=5,
                           max_new_tokens=6, stats=stats)
    assert [len(outs) for outs in first] == [3] * len(PROMPTS)
    assert stats["prompts"] == 12 and stats["batches"] == 3 and 0 < stats["new_tokens"] <= 12 * 3 * 6
    assert sample_answers(chatty_policy, PROMPTS, samples=3, temperature=1.0, seed=5, batch_size=5,
                          max_new_tokens=6) == first
    assert sample_answers(chatty_policy, PROMPTS, samples=3, temperature=1.0, seed=6, batch_size=5,
                          max_new_tokens=6) != first
    # sampled, not greedy: a prompt's samples differ, and most differ from its greedy answer
    greedy = generate_answers(chatty_policy, PROMPTS, max_new_tokens=6)
    assert sum(len(set(outs)) > 1 for outs in first) > len(PROMPTS) // 2
    assert sum(g not in outs for g, outs in zip(greedy, first)) > len(PROMPTS) // 2
    with pytest.raises(Exception, match="temperature positive"):
        sample_answers(chatty_policy, PROMPTS, samples=2, temperature=0.0)
