"""Training losses by config name."""

from __future__ import annotations

from torch import nn

from stockcast.errors import ConfigError

LOSSES = ("mse", "mae", "huber")


def make_loss(name: str, huber_delta: float = 1.0) -> nn.Module:
    if name == "huber":
        return nn.HuberLoss(delta=huber_delta)
    if name == "mse":
        return nn.MSELoss()
    if name == "mae":
        return nn.L1Loss()
    raise ConfigError(f"model.loss {name!r} is unknown; choose one of {list(LOSSES)}.")
