"""Skip ms-swift's redundant "old policy" forward in GRPO when it equals the live policy's.

ms-swift 4.6's `GRPOTrainer._prepare_batch_inputs` runs the policy once more, without gradients, on every
rollout batch to get `old_per_token_logps`, whatever the configuration. When each rollout is used for
exactly one optimizer step (`num_iterations` 1, `steps_per_generation` equal to the gradient accumulation:
ms-swift's own `old_policy()` is False), the weights cannot change between that forward and the training
forward, and `compute_loss` already falls back to the training forward's detached log-probabilities when
the old ones are None. TRL skips the forward in that case; ms-swift's pull request doing the same
(modelscope/ms-swift#9874) was closed unmerged. Skipping it changes no number (the ratio is exp(x - x) = 1
either way: a default launch's step telemetry and answers are byte-identical with and without it) and
saves one of the step's forwards (`benchmarks/swift_old_logps.py`).

The skip keeps every consumer that reads the old log-probabilities before the training forward: the KL in
the reward (`kl_in_reward` with `beta` != 0), an explicit teacher (OPD, RLSD), a batch with a teacher view
(OPSD), and the Liger loss. The rlwhf rewards install it when ms-swift builds them, on ms-swift 4.6 only
(the code it relies on is that release's); `RLWHF_SWIFT_OLD_LOGPS=compute` turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

ENV = "RLWHF_SWIFT_OLD_LOGPS"
SUPPORTED = ("4.6.",)


def old_logps_needed(trainer, samples=()) -> bool:
    """Whether `trainer` (an ms-swift GRPOTrainer) needs the old-policy forward for the rollout `samples`;
    True when unsure. A batch needs it when a sample has a teacher view (OPSD: `teacher_prompt` or
    `teacher_images`), on any process, so that every process takes the same path.

    >>> from types import SimpleNamespace as NS
    >>> t = NS(old_policy=lambda: False, beta=0.04, kl_in_reward=False, _has_teacher_explicit=lambda: False,
    ...        use_liger_loss=False)
    >>> old_logps_needed(t, [NS(teacher_messages=None, teacher_prompt=None, teacher_images=None)])
    False
    >>> old_logps_needed(NS(**{**vars(t), "kl_in_reward": True}))
    True
    """
    try:
        if (trainer.old_policy() or (trainer.kl_in_reward and trainer.beta != 0.0)
                or trainer._has_teacher_explicit() or trainer.use_liger_loss):
            return True
        opsd = any(s.teacher_messages is not None or s.teacher_prompt or s.teacher_images is not None
                   for s in samples)
    except AttributeError:
        return True
    from accelerate.utils import gather_object

    return any(gather_object([opsd]))


def install(trainer_cls, version: str) -> bool:
    """Wrap `trainer_cls` (ms-swift's GRPOTrainer) so that the old-policy forward is skipped where it is
    not needed; returns whether it did (not on another ms-swift release, nor with $RLWHF_SWIFT_OLD_LOGPS
    set to `compute`, nor twice)."""
    if os.environ.get(ENV, "skip") == "compute" or not version.startswith(SUPPORTED):
        return False
    if getattr(trainer_cls, "_rlwhf_old_logps", False):
        return False
    prepare = trainer_cls._prepare_batch_inputs
    logps = trainer_cls._get_per_token_logps_and_entropies
    null_ref = trainer_cls.null_ref_context

    @functools.wraps(prepare)
    def _prepare_batch_inputs(self, samples, *args, **kwargs):
        skip = not old_logps_needed(self, samples)
        if skip and not getattr(self, "_rlwhf_old_logps_logged", False):
            self._rlwhf_old_logps_logged = True
            _log("rlwhf: one optimizer step per rollout: the old-policy forward is skipped (the loss uses the "
                 f"training forward's detached log-probabilities; {ENV}=compute keeps it)")
        self._rlwhf_skip_old = skip
        try:
            return prepare(self, samples, *args, **kwargs)
        finally:
            self._rlwhf_skip_old = False

    @functools.wraps(logps)
    def _get_per_token_logps_and_entropies(self, model, *args, **kwargs):
        # Inside _prepare_batch_inputs the policy itself is run for the old log-probabilities; the reference
        # is a separate model, or the policy inside null_ref_context (adapters off), and is always computed.
        if (getattr(self, "_rlwhf_skip_old", False) and model is self.model
                and not getattr(self, "_rlwhf_in_ref", False)):
            return None, None
        return logps(self, model, *args, **kwargs)

    @contextlib.contextmanager
    def null_ref_context(self):
        self._rlwhf_in_ref = True
        try:
            with null_ref(self):
                yield
        finally:
            self._rlwhf_in_ref = False

    trainer_cls._prepare_batch_inputs = _prepare_batch_inputs
    trainer_cls._get_per_token_logps_and_entropies = _get_per_token_logps_and_entropies
    trainer_cls.null_ref_context = null_ref_context
    trainer_cls._rlwhf_old_logps = True
    return True


def _log(message: str) -> None:
    from swift.utils import get_logger

    get_logger().info(message)


def install_in_swift() -> bool:
    """`install` on the GRPOTrainer of the ms-swift in this process, once ms-swift has loaded it (the
    rewards call this from their constructors, which ms-swift's GRPOTrainer runs). Never imports it:
    ms-swift's trainer module replaces TRL's `GRPOTrainer.__init__` when imported, which would break TRL in
    any process that only loaded the plugin."""
    trainer_module = sys.modules.get("swift.rlhf_trainers.grpo_trainer")
    if trainer_module is None:
        return False
    import swift

    return install(trainer_module.GRPOTrainer, swift.__version__)
