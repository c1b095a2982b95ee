"""Validate at a fit's last optimizer step where its step budget ends before any validation."""

from __future__ import annotations

from typing import Any

import lightning as L


class ValidateAtLastStep(L.Callback):
    """Makes the batch that spends `trainer.max_steps` a validation batch, in a fit that has not
    validated yet.

    Lightning validates only on its schedule (`validation_schedule`: about every
    `fit.val_every_steps` steps), and ends a fit at its step budget without validating: a budget
    that ended before the first validation (`trainer.max_steps=20`) left no best checkpoint and
    no resume.ckpt, saved its last weights unjudged and decided the naive fallback on no
    validation at all. A fit that validated already keeps its schedule: its best checkpoint
    stands, and one more validation at the end would choose among other steps than the defaults
    have always chosen among.
    """

    def __init__(self) -> None:
        self.validated = False

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.validated = True

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.validated or not trainer.enable_validation:
            return
        if 0 <= trainer.max_steps <= trainer.global_step:
            # Lightning decides right after this hook whether this batch validates: in this
            # epoch, at every (batch_idx + 1)th batch of it. The fit ends with this batch, so
            # the schedule changes nothing else.
            trainer.check_val_every_n_epoch = 1
            trainer.val_check_batch = batch_idx + 1
