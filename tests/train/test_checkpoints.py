import json
import struct

from rlwhf.train.checkpoints import checkpoint_problem, finalize_model, latest_complete, list_checkpoints


def _safetensors(path, payload=8, truncate=0):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, payload]}}).encode()
    data = struct.pack("<Q", len(header)) + header + b"\0" * payload
    path.write_bytes(data[: len(data) - truncate])


def _ckpt(root, step, state=True, weights=True, truncate=0):
    ckpt = root / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    if weights:
        _safetensors(ckpt / "model.safetensors", truncate=truncate)
    if state:
        (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return ckpt


def test_complete_and_incomplete_checkpoints_are_told_apart(tmp_path):
    assert checkpoint_problem(_ckpt(tmp_path, 1)) is None
    assert "no trainer_state.json" in checkpoint_problem(_ckpt(tmp_path, 2, state=False))
    assert "no weight file" in checkpoint_problem(_ckpt(tmp_path, 3, weights=False))
    assert "truncated" in checkpoint_problem(_ckpt(tmp_path, 4, truncate=3))
    broken = _ckpt(tmp_path, 5)
    (broken / "trainer_state.json").write_text('{"global_step": ')
    assert "not readable JSON" in checkpoint_problem(broken)


def test_sharded_weights_need_every_shard(tmp_path):
    ckpt = _ckpt(tmp_path, 7, weights=False)
    _safetensors(ckpt / "model-00001-of-00002.safetensors")
    (ckpt / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    assert "model-00002-of-00002.safetensors" in checkpoint_problem(ckpt)
    _safetensors(ckpt / "model-00002-of-00002.safetensors")
    assert checkpoint_problem(ckpt) is None


def test_latest_complete_skips_a_half_written_newest_checkpoint_across_run_versions(tmp_path):
    _ckpt(tmp_path / "v0-1", 2)
    good = _ckpt(tmp_path / "v1-2", 4)
    _ckpt(tmp_path / "v1-2", 6, state=False)  # killed while saving
    (tmp_path / "v1-2" / "last-checkpoint").symlink_to(tmp_path / "v1-2" / "checkpoint-6")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    skipped = []
    assert latest_complete(tmp_path, log=skipped.append) == good
    assert "checkpoint-6" in skipped[0] and "trainer_state" in skipped[0]
    assert latest_complete(tmp_path / "missing") is None


def test_finalize_copies_missing_tokenizer_and_swift_files_only(tmp_path):
    source = tmp_path / "model"
    source.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "rlwhf_model.json"):
        (source / name).write_text(f"source {name}")
    ckpt = _ckpt(tmp_path / "run", 2)
    (ckpt / "tokenizer_config.json").write_text("trainer's own")
    assert finalize_model(ckpt, source) == ckpt
    assert (ckpt / "tokenizer.json").read_text() == "source tokenizer.json"
    assert (ckpt / "rlwhf_model.json").read_text() == "source rlwhf_model.json"
    assert (ckpt / "tokenizer_config.json").read_text() == "trainer's own"


def test_a_lora_checkpoint_is_merged_into_a_loadable_model(tiny_model_dir, tmp_path):
    # What the cascade's LoRA step leaves behind: an adapter, not a model AutoModelForCausalLM loads alone.
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    ckpt = tmp_path / "run" / "checkpoint-3"
    lora.save_pretrained(ckpt)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 3}))
    ids = torch.tensor([[1, 5, 9, 13]])
    with torch.no_grad():
        expected = lora(input_ids=ids).logits

    merged = finalize_model(ckpt, tiny_model_dir)
    assert merged.name == "checkpoint-3-merged" and checkpoint_problem(ckpt) is None
    model = AutoModelForCausalLM.from_pretrained(merged)
    AutoTokenizer.from_pretrained(merged)
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, expected, atol=1e-4)
    assert (merged / "rlwhf_model.json").is_file()
    assert finalize_model(ckpt, tiny_model_dir) == merged  # merged once, reused
