"""How `PriceForecaster` turns its members' raw outputs into one forecast in price units: each
member's outputs unscaled, its quantiles made to rise around its median, its anchor on the last
price, then the members combined by their weights (normalised where they are set), without the
members the level-range rule sets aside. Functions of the tensors they are given, kept apart
from the network so that it reads as its members and their inputs; the order of their
arithmetic is what keeps every forecast the same to the bit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from stockcast.models.level_range import recombine_changed
from stockcast.models.log_view import price_changes


class RisingQuantiles(NamedTuple):
    """What puts a member's quantile outputs in order around its median (`rising_quantiles`):
    the point forecast's output, (quantiles, 1) True for the outputs below the median, and the
    outputs from the lowest quantile up with where each output's rank lands back."""

    point_index: int
    below_median: torch.Tensor
    ranks: tuple[list[int], list[int]]


def quantile_order(
    quantiles: tuple[float, ...],
) -> tuple[int, tuple[list[int], list[int]], torch.Tensor | None]:
    """The point forecast's output (the median; 0 without quantiles), the outputs from the
    lowest quantile up and where each output's rank lands back, and (quantiles, 1) True for
    the outputs below the median (None without quantiles): what `RisingQuantiles` holds."""
    point_index = quantiles.index(0.5) if quantiles else 0
    rising = sorted(range(len(quantiles)), key=quantiles.__getitem__)
    ranks = (rising, sorted(range(len(rising)), key=rising.__getitem__))
    below_median = torch.tensor([q < 0.5 for q in quantiles])[:, None] if quantiles else None
    return point_index, ranks, below_median


def member_values(
    prices: torch.Tensor,
    outputs: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    anchored: bool,
    log_members: torch.Tensor | None,
    order: RisingQuantiles | None,
) -> tuple[torch.Tensor, torch.Tensor | float]:
    """Each member's outputs in price units (members, batch, quantiles, horizon) and the base
    they are added to: an anchored member's change from the last price, with the last price
    as base (added after combining, so a zero change is the last price to the bit whatever
    the scaling: two naive fallbacks then agree exactly), or else its forecast, base 0. The
    `log_members` (members, 1, 1) forecast changes of logarithms; `order` None: no quantiles
    to put in order."""
    in_prices = outputs * scale[..., None]
    if order is not None:
        in_prices = rising_quantiles(in_prices, order)
    if anchored:
        if log_members is not None:
            in_logs = log_members[..., None]
            in_prices = torch.where(in_logs, price_changes(in_prices, prices), in_prices)
        return in_prices, prices[:, None, -1:]
    return in_prices + loc[..., None], 0.0


def rising_quantiles(values: torch.Tensor, order: RisingQuantiles) -> torch.Tensor:
    """Each member's quantile outputs (members, batch, quantiles, horizon) made to rise with
    their quantiles around its median: separately trained outputs can cross, so each one
    below the median is held at or under it and each above at or over it, then they are
    sorted. The median, the point forecast, is never moved: validation, the weights, the
    naive fallback and serving all read the point the median output trained for, and the
    members' combination (each member in order) is in order too. The training loss reads
    the raw outputs."""
    median = values[:, :, order.point_index, None]
    held = torch.where(
        order.below_median, torch.minimum(values, median), torch.maximum(values, median)
    )
    rising, back = order.ranks
    return held[:, :, rising].sort(dim=2).values[:, :, back]


def normalised_weights(
    weights: Sequence[float], members: int, device: torch.device
) -> torch.Tensor:
    """(members, 1, 1, 1): `weights` normalised to sum to 1, as `combine_members` reads them;
    a ValueError unless they are `members` finite values >= 0 with a positive sum."""
    values = torch.as_tensor([float(w) for w in weights], dtype=torch.float32, device=device)
    if len(values) != members or not bool(
        torch.isfinite(values).all() and (values >= 0).all() and values.sum() > 0
    ):
        raise ValueError(
            f"member weights {list(weights)} must be {members} finite values >= 0 "
            "with a positive sum"
        )
    return (values / values.sum())[:, None, None, None]


def combine_members(
    member_values: torch.Tensor,
    member_weights: torch.Tensor | None,
    set_aside: torch.Tensor | None,
) -> torch.Tensor:
    """(members, batch, ...) -> (batch, ...): the members' mean, or their weighted mean with
    `member_weights` (members, 1, 1, 1) (a member of weight 0 counts for nothing, even a
    forecast that is not a number); for a window the level-reading members are `set_aside`
    for (members, batch), without them (the other windows are combined as without the rule,
    to the bit, whatever their batch). `set_aside` None: no window is judged."""
    if member_weights is None:
        combined = member_values.mean(dim=0)
    else:
        weights = member_weights
        combined = torch.where(weights > 0, member_values * weights, 0.0).sum(dim=0)
    if set_aside is None:
        return combined
    return recombine_changed(
        member_values, combined, flat_weights(member_values, member_weights), set_aside
    )


def flat_weights(member_values: torch.Tensor, member_weights: torch.Tensor | None) -> torch.Tensor:
    """The weights of the members of `member_values` (members, ...), flat: the fitted ones, or
    equal ones for their mean, on the values' device."""
    if member_weights is not None:
        return member_weights.flatten()
    members = len(member_values)
    return torch.full((members,), 1.0 / members, device=member_values.device)
