"""Training losses by config name (`model.loss`; the config schema lists the names)."""

from __future__ import annotations

from torch import nn


def make_loss(name: str, huber_delta: float = 1.0) -> nn.Module:
    losses = {
        "mse": nn.MSELoss,
        "mae": nn.L1Loss,
        "huber": lambda: nn.HuberLoss(delta=huber_delta),
    }
    return losses[name]()
