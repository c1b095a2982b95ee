"""What every step entry point shares: config flattening, threads, JSON writing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

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
