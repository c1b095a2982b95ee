"""What every step entry point shares: config flattening, threads, JSON writing."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.errors import ConfigError

log = logging.getLogger("stockcast")


def plain(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """A resolved, plain-dict copy of a config node."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}, for logging hyperparameters and tags."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


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
