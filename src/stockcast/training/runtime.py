"""The process settings a fit runs under: torch threads, trainer settings this machine refuses,
and how a fit stopped by Ctrl-C ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stockcast.errors import ConfigError


def set_threads(num_threads: int) -> None:
    """Apply the configured intra-op thread count (see `num_threads` in train.yaml)."""
    import torch

    torch.set_num_threads(int(num_threads))


# What Lightning's Trainer raises for arguments it cannot run with, by name (no Lightning import):
# its own refusal, and the plain errors some of its checks raise instead (`trainer.accelerator=tpu`
# without torch_xla: ModuleNotFoundError; device ids on a CPU: TypeError; a bad max_time).
TRAINER_REFUSALS = ("MisconfigurationException", "ModuleNotFoundError", "TypeError", "ValueError")


@contextmanager
def trainer_refusals() -> Iterator[None]:
    """Lightning's refusal of trainer settings this machine cannot run (`trainer=gpu` without a
    GPU, an unsupported device count) as one `ConfigError` sentence instead of a traceback. The
    values themselves are the schema's to check; what hardware exists only Lightning knows."""
    from hydra.errors import InstantiationException

    try:
        yield
    except InstantiationException as err:
        cause = err.__cause__
        if cause is None or type(cause).__name__ not in TRAINER_REFUSALS:
            raise
        raise ConfigError(
            f"the trainer settings cannot run here: {str(cause).strip().rstrip('.')}; change "
            "the trainer setting it names, or choose trainer=cpu where this machine lacks the "
            "accelerator or devices asked for."
        ) from None


def fit_or_interrupt(trainer: Any, model: Any, **kwargs: Any) -> None:
    """`trainer.fit`, a Ctrl-C during it raised again as the KeyboardInterrupt it was: Lightning
    ends a fit it interrupted with exit status 1 after its own shutdown, which read as any
    failure, with no word of where the run stopped or how it continues (`user_errors_exit`)."""
    try:
        trainer.fit(model, **kwargs)
    except SystemExit as err:
        if err.code == 1 and trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
