"""The process settings a fit runs under: torch threads, and trainer settings this machine refuses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stockcast.errors import ConfigError


def set_threads(num_threads: int) -> None:
    """Apply the configured intra-op thread count (see `num_threads` in train.yaml)."""
    import torch

    torch.set_num_threads(int(num_threads))


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
        if cause is None or type(cause).__name__ != "MisconfigurationException":
            raise
        raise ConfigError(
            f"the trainer settings cannot run here: {str(cause).strip().rstrip('.')}; "
            "choose other trainer.accelerator / trainer.devices values, e.g. trainer=cpu."
        ) from None
