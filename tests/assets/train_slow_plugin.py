"""ms-swift `--external_plugins` file for the supervisor's integration tests: simulates a bigger model
on this tiny one. With RLWHF_TEST_HOG_MB_PER_ROW set, every training forward pass (grad enabled) holds
that many MB of resident memory per row of its micro-batch until the next pass, so memory scales with
--per_device_train_batch_size the way activations do; RLWHF_TEST_STEP_SLEEP slows each training
forward pass down so a test can kill the run mid-way."""

import os
import time

import torch
from transformers import Qwen2ForCausalLM

_HOG_MB = float(os.environ.get("RLWHF_TEST_HOG_MB_PER_ROW", "0"))
_SLEEP = float(os.environ.get("RLWHF_TEST_STEP_SLEEP", "0"))
_held = []
_forward = Qwen2ForCausalLM.forward


def forward(self, *args, **kwargs):
    if torch.is_grad_enabled():
        ids = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else (args[0] if args else None)
        rows = int(ids.shape[0]) if ids is not None else 1
        if _HOG_MB:
            _held.clear()
            # Filled with ones so the pages are really resident (zeros could stay unmapped).
            _held.append(torch.ones(int(rows * _HOG_MB * 2**20 / 4), dtype=torch.float32))
        if _SLEEP:
            time.sleep(_SLEEP)
    return _forward(self, *args, **kwargs)


Qwen2ForCausalLM.forward = forward
