"""Validate at a fit's last optimizer step, wherever its step budget ends."""

from __future__ import annotations

from typing import Any

import lightning as L


class ValidateAtLastStep(L.Callback):
    """Makes the batch that spends `trainer.max_steps` a validation batch.

    Lightning validates only on its schedule (`validation_schedule`: about every
    `fit.val_every_steps` steps, at the end of a batch of `data.steps_per_batch` steps), and ends
    a fit at its step budget without validating. A budget that ended before the first validation
    (`trainer.max_steps=20`) left no best checkpoint and no resume.ckpt, saved its last weights
    unjudged and decided the naive fallback on no validation at all; one that ended between two
    validations trained steps that could never be its best checkpoint (a default fit's last 28-40
    of 1000, a warm start's last 38 of 200), and train.resume continued from the validation
    before them.
    """

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not trainer.enable_validation:
            return
        if 0 <= trainer.max_steps <= trainer.global_step:
            # Lightning decides right after this hook whether this batch validates: in this
            # epoch, at every (batch_idx + 1)th batch of it. The fit ends with this batch, so
            # the schedule changes nothing else.
            trainer.check_val_every_n_epoch = 1
            trainer.val_check_batch = batch_idx + 1
