"""GRPO without ms-swift's redundant old-policy forward (rlwhf.integrations.swift_old_logps): when the
gate holds, and that a real `swift rlhf` run logs the same numbers with and without the skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from _swift_grpo import run_swift_grpo

from rlwhf.integrations import swift_old_logps
from rlwhf.integrations.swift_old_logps import ENV, install, old_logps_needed


def _trainer(**over):
    base = dict(old_policy=lambda: False, beta=0.04, kl_in_reward=False, _has_teacher_explicit=lambda: False,
                use_liger_loss=False)
    return NS(**{**base, **over})


def _sample(**over):
    return NS(**{"teacher_messages": None, "teacher_prompt": None, "teacher_images": None, **over})


def test_not_needed_for_one_optimizer_step_per_rollout():
    assert not old_logps_needed(_trainer(), [_sample(), _sample()])
    assert not old_logps_needed(_trainer(kl_in_reward=True, beta=0.0), [_sample()])


@pytest.mark.parametrize("trainer, samples", [
    (_trainer(old_policy=lambda: True), [_sample()]),  # num_iterations > 1 or several steps per rollout
    (_trainer(kl_in_reward=True), [_sample()]),  # the KL goes into the reward before the training forward
    (_trainer(_has_teacher_explicit=lambda: True), [_sample()]),  # OPD / RLSD read it in the advantages
    (_trainer(use_liger_loss=True), [_sample()]),
    (_trainer(), [_sample(), _sample(teacher_prompt="Think first.")]),  # an OPSD batch
    (_trainer(), [_sample(teacher_images=[])]),
    (NS(old_policy=lambda: False), [_sample()]),  # another release's trainer: keep ms-swift's path
])
def test_needed(trainer, samples):
    assert old_logps_needed(trainer, samples)


class _Trainer:
    """The three methods `install` wraps, in the call order of ms-swift 4.6's _prepare_batch_inputs."""

    def __init__(self, ref_model):
        self.model, self.ref_model, self.calls = object(), ref_model, []
        self.old_policy = lambda: False
        self.beta, self.kl_in_reward, self.use_liger_loss = 0.04, False, False
        self._has_teacher_explicit = lambda: False

    def _get_per_token_logps_and_entropies(self, model, inputs, batch):
        self.calls.append("policy" if model is self.model else "ref")
        return "logps", None

    @contextmanager
    def null_ref_context(self):
        yield

    def _prepare_batch_inputs(self, samples):
        old = self._get_per_token_logps_and_entropies(self.model, None, None)[0]
        if self.ref_model is not None:
            ref = self._get_per_token_logps_and_entropies(self.ref_model, None, None)[0]
        else:
            with self.null_ref_context():  # a LoRA policy with its adapters off is the reference
                ref = self._get_per_token_logps_and_entropies(self.model, None, None)[0]
        return old, ref


@pytest.fixture
def patched(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(swift_old_logps, "_log", lambda message: None)

    class Patched(_Trainer):
        pass

    assert install(Patched, "4.6.0")
    return Patched


@pytest.mark.parametrize("ref_model", [object(), None], ids=["reference model", "adapters off"])
def test_skips_only_the_old_policy_forward(patched, ref_model):
    trainer = patched(ref_model)
    assert trainer._prepare_batch_inputs([_sample()]) == (None, "logps")
    assert trainer.calls == (["ref"] if ref_model is not None else ["policy"])
    trainer.calls.clear()  # outside _prepare_batch_inputs (the training forward) nothing is skipped
    assert trainer._get_per_token_logps_and_entropies(trainer.model, None, None) == ("logps", None)
    trainer.old_policy = lambda: True
    assert trainer._prepare_batch_inputs([_sample()]) == ("logps", "logps")


def test_installed_only_on_4_6_once_and_not_when_turned_off(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert not install(type("Other", (_Trainer,), {}), "4.7.0")
    cls = type("Twice", (_Trainer,), {})
    assert install(cls, "4.6.0") and not install(cls, "4.6.0")
    monkeypatch.setenv(ENV, "compute")
    assert not install(type("Off", (_Trainer,), {}), "4.6.0")


def _steps(out):
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines() if line.strip()]
    return [{k: row[k] for k in ("loss", "reward", "kl", "grad_norm")} for row in rows if "reward" in row]


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["full", "lora"])
def test_real_grpo_logs_the_same_numbers_without_the_forward(tiny_model_dir, tmp_path, tuner):
    """ms-swift 4.6 itself (`compute`) against the plugin's default: two steps, the same loss, reward, KL and
    gradient norm; with LoRA the reference is the policy with its adapters off, and is still computed."""
    runs = {}
    for mode in ("compute", "skip"):
        (tmp_path / mode).mkdir()
        runs[mode] = run_swift_grpo(tiny_model_dir, tmp_path / mode, "rlwhf_honesty", 2, {ENV: mode},
                                    "--add_version", "false", "--tuner_type", tuner, "--beta", "0.04",
                                    "--learning_rate", "1e-2")
    assert _steps(runs["skip"]) == _steps(runs["compute"]) and len(_steps(runs["skip"])) == 2
    # The reference was computed: with beta > 0 ms-swift's loss subtracts it (None would raise), and after
    # one full-tuning step the KL shows (LoRA's first step moves the policy too little for the log's digits).
    assert tuner == "lora" or _steps(runs["skip"])[1]["kl"] != 0.0
    logged = {mode: "old-policy forward is skipped" in (tmp_path / mode / "swift.log").read_text() for mode in runs}
    assert logged == {"compute": False, "skip": True}


@pytest.mark.slow
def test_benchmark_runs_both_variants_and_finds_the_same_numbers(tmp_path):
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "swift_old_logps.py"
    proc = subprocess.run([sys.executable, str(script), "--steps", "2", "--repeats", "1", "--work", str(tmp_path),
                           "--json", str(tmp_path / "figures.json")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["same_numbers"] and figures["skipped_in_every_skip_run"] and figures["run_in_every_compute_run"]
    assert "identical in the two variants" in proc.stdout and figures["step_time_ratio"] > 0


def test_loading_the_plugin_leaves_trl_alone():
    """ms-swift's trainer module replaces TRL's GRPOTrainer.__init__ when imported; the plugin (loaded and its
    reward built, as in a process that runs TRL) must not import it, so TRL keeps its own signature."""
    code = (
        "import inspect, trl\n"
        "from swift.utils.utils import import_external_file\n"
        "from swift.rewards import orms\n"
        "from rlwhf.reward import plugin_path\n"
        "import_external_file(plugin_path())\n"
        "orms['rlwhf_honesty'](args=None)\n"
        "import sys\n"
        "print('swift trainer loaded:', 'swift.rlhf_trainers.grpo_trainer' in sys.modules)\n"
        "print('trl reward_funcs:', 'reward_funcs' in inspect.signature(trl.GRPOTrainer.__init__).parameters)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "swift trainer loaded: False" in proc.stdout and "trl reward_funcs: True" in proc.stdout
