"""Plan -> TRL mapping (config fields, rows, reward functions); real TRL runs are in test_integration.py."""

import json

import pytest

from rlwhf.errors import RlwhfError
from rlwhf.config import parse_value as coerce
from rlwhf.train.trl_backend import config_kwargs, dpo_rows, grpo_rows, resolve_reward


def test_swift_flags_map_onto_grpo_config_fields_with_their_types():
    from trl import GRPOConfig

    args = {"rlhf_type": "grpo", "model": "m", "num_generations": "4", "learning_rate": "1e-4", "beta": 0.0,
            "log_completions": "true", "scale_rewards": "group", "lr_scheduler_type": "constant",
            "reward_weights": ["1", "0.5"], "max_completion_length": 24, "check_model": "false",
            "vllm_mode": "colocate", "acc_strategy": "token"}
    kwargs, ignored = config_kwargs(args, GRPOConfig)
    assert kwargs["num_generations"] == 4 and kwargs["learning_rate"] == 1e-4
    assert kwargs["log_completions"] is True and kwargs["scale_rewards"] == "group"
    assert kwargs["reward_weights"] == [1.0, 0.5]
    assert "model" not in kwargs and "check_model" not in kwargs  # consumed by the backend itself
    assert ignored == {"acc_strategy": "token"}  # ms-swift only: reported, not dropped silently
    GRPOConfig(output_dir="x", use_cpu=True, **kwargs)  # TRL accepts every mapped value


def test_a_bad_value_names_the_flag():
    from trl import DPOConfig

    with pytest.raises(RlwhfError, match="--beta 'high'"):
        config_kwargs({"beta": "high"}, DPOConfig)


def test_coerce_handles_optionals_unions_and_lists():
    assert coerce("8", int | None) == 8
    assert coerce("false", str | bool) is False
    assert coerce("group", str | bool) == "group"
    assert coerce(["a", "b"], list[str]) == ["a", "b"]
    assert coerce("x", list[str]) == ["x"]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_swift_grpo_rows_become_conversational_prompts_with_their_columns(tmp_path):
    path = _jsonl(tmp_path / "g.jsonl", [
        {"messages": [{"role": "user", "content": "Capital of France?"}], "solution": "Paris", "answerable": True},
        {"prompt": "Who wins in 2090?", "answerable": False},
    ])
    rows = grpo_rows([path])
    assert rows[0] == {"prompt": [{"role": "user", "content": "Capital of France?"}], "solution": "Paris",
                       "answerable": True}
    assert rows[1]["prompt"] == [{"role": "user", "content": "Who wins in 2090?"}]


def test_dpo_rows_from_rlwhf_data_pairs_shape(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", [
        {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "good"}],
         "rejected_response": "bad", "prompt": "Q", "chosen": "good", "rejected": "bad", "margin": 4},
        {"prompt": "Q2", "chosen": "yes", "rejected": "no"},
    ])
    rows = dpo_rows([path])
    assert rows[0] == {"prompt": [{"role": "user", "content": "Q"}],
                       "chosen": [{"role": "assistant", "content": "good"}],
                       "rejected": [{"role": "assistant", "content": "bad"}]}
    assert rows[1]["chosen"] == [{"role": "assistant", "content": "yes"}]


@pytest.mark.parametrize("row, message", [
    ({"messages": [{"role": "user", "content": "Q"}]}, "rejected_response"),
    ({"answer": "x"}, "GRPO row needs `messages`"),
    ({"messages": "Q"}, "non-empty list"),
])
def test_bad_rows_name_file_and_line(tmp_path, row, message):
    path = _jsonl(tmp_path / "bad.jsonl", [row])
    reader = dpo_rows if "rejected_response" in message else grpo_rows
    with pytest.raises(RlwhfError, match="bad.jsonl:1") as err:
        reader([path])
    assert message in str(err.value)


def test_hub_datasets_are_refused_with_the_alternative():
    with pytest.raises(RlwhfError, match="use the swift backend"):
        grpo_rows(["AI-MO/NuminaMath-TIR#1000"])


def test_reward_functions_resolve_by_name_module_or_file(tmp_path):
    from rlwhf.integrations.trl import honesty_reward

    assert resolve_reward("rlwhf_honesty") is honesty_reward
    assert resolve_reward("rlwhf.integrations.trl:honesty_reward") is honesty_reward
    (tmp_path / "mine.py").write_text("def length(completions, **kw):\n    return [0.0] * len(completions)\n")
    assert resolve_reward(f"{tmp_path / 'mine.py'}:length")(["a", "b"]) == [0.0, 0.0]
    with pytest.raises(RlwhfError, match="no TRL counterpart"):
        resolve_reward("accuracy")


def test_lora_flags_from_the_cascade_become_a_peft_config():
    from rlwhf.train.trl_backend import lora_config

    assert lora_config({"tuner_type": "full"}) is None
    cfg = lora_config({"tuner_type": "lora", "lora_rank": 8, "lora_alpha": 32, "target_modules": ["all-linear"]})
    assert cfg.r == 8 and cfg.lora_alpha == 32 and cfg.target_modules == "all-linear"
    assert lora_config({"tuner_type": "lora", "target_modules": ["q_proj", "v_proj"]}).target_modules == {"q_proj",
                                                                                                         "v_proj"}
    with pytest.raises(RlwhfError, match="full or lora, not 'longlora'"):
        lora_config({"tuner_type": "longlora"})
