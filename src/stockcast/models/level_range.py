"""The fitted level range: the members that read a window's absolute level step aside for a
window that lies mostly outside the values the network was fitted on (`PriceForecaster`), and
every combination of member forecasts outside the network (the folds', a benchmark's) weighs
them the same way."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch


class LevelRange(NamedTuple):
    """The values a network was fitted on, lowest and highest, and the share of a window's
    values that may lie outside them before its level-reading members step aside."""

    low: float
    high: float
    max_outside: float


def window_weights(weights: torch.Tensor, set_aside: torch.Tensor) -> torch.Tensor:
    """Each window's member weights, (members, windows): `weights` (members,) with the members
    `set_aside` for a window (members, windows) given none and the others renormalised; a
    window whose every weighted member is set aside keeps `weights` (no one else could carry
    it)."""
    kept = torch.where(set_aside, 0.0, weights[:, None])
    total = kept.sum(dim=0, keepdim=True)
    renormalised = kept / total.clamp_min(torch.finfo(kept.dtype).tiny)
    return torch.where(total > 0, renormalised, weights[:, None])


def outside_range(prices: torch.Tensor, level_range: LevelRange) -> torch.Tensor | None:
    """(windows,): True for each window more than `max_outside` of whose values lie outside
    [low, high] (compared in the windows' dtype, so a fitted extreme is inside); None where
    none is."""
    low, high, limit = level_range
    # Most windows lie wholly inside: one pass finds that (a tenth of the full test's cost).
    smallest, largest = torch.aminmax(prices)
    if smallest.item() >= low and largest.item() <= high:
        return None
    outside = ((prices < low) | (prices > high)).float().mean(dim=-1) > limit
    return outside if bool(outside.any()) else None


def changed_windows(weights: torch.Tensor, set_aside: torch.Tensor | None) -> torch.Tensor:
    """(windows,): True where setting members aside changes a window's weights (a member set
    aside for it had weight, and a member left has weight); a window whose weights stay is
    combined as if no rule existed. With `set_aside` None: an empty mask (no window)."""
    if set_aside is None:
        return torch.zeros(0, dtype=torch.bool)
    weighted = (weights > 0)[:, None]
    return (set_aside & weighted).any(dim=0) & (~set_aside & weighted).any(dim=0)


def recombine_changed(
    member_values: torch.Tensor,
    combined: torch.Tensor,
    weights: torch.Tensor,
    set_aside: torch.Tensor | None,
) -> torch.Tensor:
    """`combined` (windows, ...), the members' values (members, windows, ...) combined with
    `weights` (members,), with the windows whose weights the members `set_aside` (members,
    windows) change combined anew without them; every other window is kept to the bit. A
    member of weight 0 counts for nothing, even a forecast that is not a number."""
    changed = changed_windows(weights, set_aside)
    if set_aside is None or not bool(changed.any()):
        return combined
    tail = (1,) * (member_values.dim() - 2)
    per_window = window_weights(weights, set_aside).reshape(*set_aside.shape, *tail)
    outside = torch.where(per_window > 0, member_values * per_window, 0.0).sum(dim=0)
    return torch.where(changed.reshape(-1, *tail), outside, combined)


def combine_member_forecasts(
    member_forecasts: np.ndarray, weights: np.ndarray | None, set_aside: np.ndarray | None
) -> np.ndarray:
    """(members, windows, ...) -> (windows, ...): the members' forecasts combined with
    `weights` (None: their mean), without the members `set_aside` (members, windows) where
    that changes a window's weights."""
    if weights is None:
        combined = member_forecasts.mean(axis=0)
    else:
        combined = _weighed_sum(member_forecasts, np.asarray(weights, dtype=np.float64)[:, None])
    if set_aside is None or not set_aside.any():
        return combined
    members = len(member_forecasts)
    flat = np.full(members, 1.0 / members) if weights is None else np.asarray(weights, float)
    return recombine_changed(
        torch.from_numpy(member_forecasts),
        torch.from_numpy(combined),
        torch.from_numpy(flat),
        torch.from_numpy(np.asarray(set_aside, dtype=bool)),
    ).numpy()


def _weighed_sum(member_forecasts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(members, windows, ...) weighed by (members, 1) and summed over the members, as
    tensordot always summed them; a member of weight 0 counts for nothing, even a forecast
    that is not a number."""
    kept = np.where(
        weights.reshape(len(weights), *(1,) * (member_forecasts.ndim - 1)) > 0,
        member_forecasts,
        0.0,
    )
    return np.tensordot(weights[:, 0], kept, axes=1)


def set_aside_mask(net: Any, inputs: np.ndarray) -> np.ndarray:
    """(members, windows): the members `net` (a `PriceForecaster`) sets aside for each of
    `inputs` (windows, previous_time_window), all False where it sets none aside: what the
    folds and the weighing keep beside their member forecasts."""
    with torch.inference_mode():
        found = net.level_set_aside(torch.as_tensor(inputs, dtype=torch.float32))
    if found is None:
        return np.zeros((int(net.core.members), len(inputs)), dtype=bool)
    return found.numpy()
