"""Training losses by config name (`model.loss`; the config schema lists the names)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def make_loss(name: str, huber_delta: float = 1.0) -> nn.Module:
    losses = {
        "mse": nn.MSELoss,
        "mae": nn.L1Loss,
        "huber": lambda: nn.HuberLoss(delta=huber_delta),
    }
    return losses[name]()


class PinballLoss(nn.Module):
    """Mean quantile (pinball) loss of forecasts (batch, quantiles, horizon) against targets
    (batch, horizon): what `model.quantiles` trains with instead of `model.loss`."""

    def __init__(self, quantiles: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("tau", torch.tensor(list(quantiles)).reshape(1, -1, 1))

    def forward(self, forecast: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        diff = targets[:, None, :] - forecast
        return torch.maximum(self.tau * diff, (self.tau - 1.0) * diff).mean()
