"""Lightning callbacks the resume tests add with a Hydra override, to the killed run and to the
run that resumes it alike (a resume must have the same settings): the environment variable, set
for the killed run only, says when to stop.

KillAtEpoch: kill -9 at an epoch's start (after the previous epoch's checkpoint was written), as a
crash or an OOM killer would. TermAtEpoch: SIGTERM there instead, as a scheduler or a pre-empted
node sends it. HangUpAtEpoch: SIGHUP there, as a closed terminal or SSH session sends it.
InterruptAtEpoch: SIGINT there, as Ctrl-C in a terminal sends it. RaiseAtStep:
in-process, raise once the optimizer step reaches the given one (before that batch's validation
and checkpoint), so the fit stops between checkpoints, or, given a step past its end, once
training has ended (before its member weights and export).
"""

from __future__ import annotations

import os
import signal

from lightning.pytorch import Callback

KILL_AT_EPOCH = "STOCKCAST_TEST_KILL_AT_EPOCH"
TERM_AT_EPOCH = "STOCKCAST_TEST_TERM_AT_EPOCH"
HANG_UP_AT_EPOCH = "STOCKCAST_TEST_HANG_UP_AT_EPOCH"
INTERRUPT_AT_EPOCH = "STOCKCAST_TEST_INTERRUPT_AT_EPOCH"
RAISE_AT_STEP = "STOCKCAST_TEST_RAISE_AT_STEP"


class Killed(Exception):
    """The fit stopped where RAISE_AT_STEP said."""


def _wanted(variable: str) -> int | None:
    value = os.environ.get(variable)
    return None if value is None else int(value)


class KillAtEpoch(Callback):
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == _wanted(KILL_AT_EPOCH):
            os.kill(os.getpid(), signal.SIGKILL)


class TermAtEpoch(Callback):
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == _wanted(TERM_AT_EPOCH):
            os.kill(os.getpid(), signal.SIGTERM)


class HangUpAtEpoch(Callback):
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == _wanted(HANG_UP_AT_EPOCH):
            os.kill(os.getpid(), signal.SIGHUP)


class InterruptAtEpoch(Callback):
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == _wanted(INTERRUPT_AT_EPOCH):
            os.kill(os.getpid(), signal.SIGINT)


class RaiseAtStep(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = _wanted(RAISE_AT_STEP)
        if step is not None and trainer.global_step >= step:
            raise Killed(f"stopped at optimizer step {trainer.global_step}")

    def on_train_end(self, trainer, pl_module) -> None:
        # A step past the end: stopped after training, before the model is weighed and saved.
        step = _wanted(RAISE_AT_STEP)
        if step is not None:
            raise Killed(f"stopped after training, at optimizer step {trainer.global_step}")
