"""Training losses by config name."""

from __future__ import annotations

from torch import nn


def make_loss(name: str, huber_delta: float = 1.0) -> nn.Module:
    losses = {"mse": nn.MSELoss, "mae": nn.L1Loss}
    if name == "huber":
        return nn.HuberLoss(delta=huber_delta)
    if name not in losses:
        raise ValueError(f"model.loss {name!r} is unknown; choose mse, mae or huber")
    return losses[name]()
