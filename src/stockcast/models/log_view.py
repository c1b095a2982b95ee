"""The view of a window its log-value members work in (the ets kind with `values: log`): the
logarithms of its prices, scaled by their own statistics, and their forecasts turned back into
changes in price. A season or trend that grows with the level is additive in logarithms, where
a method that smooths prices sees it as one that keeps changing. A window with a price at or
below zero has no logarithm: those members forecast its last price."""

from __future__ import annotations

import torch

from stockcast.models.scaling import row_spread


def log_view(
    prices: torch.Tensor, min_scale: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each window's logarithms (of its prices over its last) scaled by their mean and spread
    (the spread at least `min_scale`, which in logarithms is a relative spread of prices):
    (inputs, loc, scale), of shapes (batch, inputs), (batch, 1), (batch, 1). A window that is
    not above zero reads as flat."""
    # Relative to the last price: float32 logarithms of prices near it keep their precision at
    # any level (the log of a price of a million carries 14 of its 24 bits in its integer part).
    logs = torch.log(torch.where(above_zero(prices), prices / prices[:, -1:], 1.0))
    loc = logs.mean(dim=-1, keepdim=True)
    scale = row_spread(logs, loc).clamp_min(min_scale)
    return (logs - loc) / scale, loc, scale


def above_zero(prices: torch.Tensor) -> torch.Tensor:
    """(batch, 1): True for the windows whose every price is above zero."""
    return (prices > 0).all(dim=-1, keepdim=True)


def price_changes(log_changes: torch.Tensor, prices: torch.Tensor) -> torch.Tensor:
    """Forecast changes in logarithms from the last price (..., batch, outputs, horizon) as
    changes in price: the last price times expm1 of the change, so that no change is the last
    price to the bit. A window not above zero reads as flat (`log_view`), and the log-value
    kinds (linear maps of the window, no bias) forecast no change for it."""
    return prices[:, -1:, None] * torch.expm1(log_changes)


def log_targets(prices: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The logarithms of the targets over the last price (batch, horizon), for the log-value
    members' loss, and whether each window has them (batch, 1) as 1.0 or 0.0: its prices and
    its targets above zero (the others' logarithms read 0)."""
    measured = above_zero(prices) & above_zero(targets)
    logs = torch.log(torch.where(measured, targets / prices[:, -1:], 1.0))
    return logs, measured.to(targets.dtype)
