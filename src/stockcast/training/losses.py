"""Training losses: by config name (`model.loss`; the config schema lists the names), and the
network's loss over its members, which only training needs (a served model ships without it)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stockcast.models.log_view import log_targets
from stockcast.models.network import PriceForecaster
from stockcast.models.scaling import row_spread

# Each member's raw outputs, scaled last input, loc and scale (`PriceForecaster.member_outputs`).
MemberOutputs = tuple[torch.Tensor, ...]

# A window whose values spread less than this share of their level did not move: float32
# rounding around one value (an unchanged price) spreads about a tenth of it, a pegged price
# that moves by 1e-5 of its level ten times more.
FLAT_RELATIVE_SPREAD = 1e-6


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


def member_losses(
    net: PriceForecaster,
    prices: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: nn.Module,
    window_scale_power: float = 0.0,
) -> torch.Tensor:
    """The training loss: each member's in its own scaled space, summed (the members learn
    independently: Adam's per-parameter steps make the sum no different from separate fits on
    the same batches).

    A per-window member's scaled error hides how large the window's error is in prices: a calm
    window (small spread) counts as much as a volatile one, and on a series with calm stretches
    (sunspots at a solar minimum) the calm windows dominate the fit. Each of its rows is
    therefore multiplied by (the window's scale / the batch's mean scale) **
    `window_scale_power`: 0 keeps the scaled errors, 1 weighs them as errors in price units.
    Members with fixed statistics are unaffected (their scale is one constant). A window that
    did not move (`flat_windows`) weighs nothing in the per-window members' loss.
    """
    outputs = net.member_outputs(prices)
    return _from_outputs(net, prices, targets, loss_fn, window_scale_power, *outputs)


def forecast_and_outputs(
    net: PriceForecaster, prices: torch.Tensor, level_rule: bool = True
) -> tuple[torch.Tensor, MemberOutputs]:
    """The point forecast in price units and the member outputs `outputs_loss` scores, from one
    pass (validation and test need both); without `level_rule`, every member counts in every
    window (a fit choosing its checkpoint: `Forecaster`)."""
    outputs = net.member_outputs(prices)
    forecast = net.in_prices(prices, *outputs, level_rule=level_rule)
    return forecast[:, net.point_index, :], outputs


def outputs_loss(
    net: PriceForecaster,
    prices: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: nn.Module,
    window_scale_power: float,
    outputs: MemberOutputs,
    mean_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """`member_losses` from member outputs already computed. A window's weight is relative to
    `mean_scale`, each member's mean window scale (members, 1, 1), by default that of these
    windows: evaluation passes the mean over all its windows, so its loss does not depend on how
    they were batched (`data.eval_batch_size`)."""
    return _from_outputs(net, prices, targets, loss_fn, window_scale_power, *outputs, mean_scale)


def _from_outputs(
    net: PriceForecaster,
    prices: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: nn.Module,
    window_scale_power: float,
    outputs: torch.Tensor,
    last_inputs: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    mean_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    if net.anchored:
        outputs = outputs + last_inputs[:, :, None]
    members, batch = outputs.shape[:2]
    scaled_targets = (targets[None] - loc) / scale
    weight: torch.Tensor | float = 1.0
    if net.window_members is not None:
        weight = (
            (scale / (scale.mean(dim=1, keepdim=True) if mean_scale is None else mean_scale))
            ** window_scale_power
            if window_scale_power
            else torch.ones_like(scale)
        )
        # A window that did not move (zeros, an unchanged illiquid price) leaves its
        # per-window members no scale to forecast in: the next move over the scaler's floor
        # is thousands of units, and squared it outweighed every other window of the batch.
        keep = ~flat_windows(net, prices)
        weight = torch.where(net.window_members, weight * keep, 1.0)
    if net.log_members is not None:
        # Log-value members forecast their view's logarithms; a window or a target not above
        # zero has none, and weighs nothing in their loss.
        logs, measured = log_targets(prices, targets)
        scaled_targets = torch.where(net.log_members, (logs[None] - loc) / scale, scaled_targets)
        weight = weight * torch.where(net.log_members, measured[None], 1.0)
    if isinstance(weight, torch.Tensor):
        outputs = outputs * weight[..., None]
        scaled_targets = scaled_targets * weight
    scaled_targets = scaled_targets.reshape(members * batch, -1)
    # Every model.loss (and the pinball loss) is a mean of equal-sized per-member parts, so
    # members x the loss over all members' rows is the sum of their losses, in one call.
    rows = outputs.reshape(members * batch, *outputs.shape[2:])
    if not net.quantiles:
        rows = rows[:, net.point_index, :]
    return members * loss_fn(rows, scaled_targets)


def flat_windows(net: PriceForecaster, prices: torch.Tensor) -> torch.Tensor:
    """Which windows did not move, (1, batch, 1): their prices spread less than
    `FLAT_RELATIVE_SPREAD` of their level (zeros spread not at all). Read off the prices, not a
    member's scaled view: a log-value member's view spreads in logarithms."""
    level_of = prices.mean(dim=-1, keepdim=True)
    spread = row_spread(prices, level_of)
    level = net.scalers[net.window_scaler].level
    floor = FLAT_RELATIVE_SPREAD * level_of.abs() + torch.finfo(torch.float32).eps * level
    return (spread <= floor)[None]
