"""A Lightning callback the resume test adds with a Hydra override: kill -9 at an epoch's start
(after the previous epoch's checkpoint was written), as a crash or an OOM killer would."""

from __future__ import annotations

import os
import signal

from lightning.pytorch import Callback


class KillAtEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
