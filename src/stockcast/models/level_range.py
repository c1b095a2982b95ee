"""The fitted level range: the members that read a window's absolute level step aside for a
window that lies mostly outside the values the network was fitted on (`PriceForecaster`), and
every combination of member forecasts outside the network (the folds', a benchmark's) weighs
them the same way."""

from __future__ import annotations

from typing import NamedTuple

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


def changed_windows(weights: torch.Tensor, set_aside: torch.Tensor | None) -> torch.Tensor:
    """(windows,): True where setting members aside changes a window's weights (a member set
    aside for it had weight, and a member left has weight); a window whose weights stay is
    combined as if no rule existed. With `set_aside` None: an empty mask (no window)."""
    if set_aside is None:
        return torch.zeros(0, dtype=torch.bool)
    weighted = (weights > 0)[:, None]
    return (set_aside & weighted).any(dim=0) & (~set_aside & weighted).any(dim=0)


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
    flat_t, aside_t = torch.from_numpy(flat), torch.from_numpy(np.asarray(set_aside, bool))
    changed = changed_windows(flat_t, aside_t).numpy()
    per_window = window_weights(flat_t, aside_t).numpy()
    combined[changed] = _weighed_sum(member_forecasts, per_window)[changed]
    return combined


def _weighed_sum(member_forecasts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(members, windows, ...) weighed by (members, windows or 1) and summed over the members;
    a member of weight 0 counts for nothing, even a forecast that is not a number."""
    weights = weights.reshape(weights.shape + (1,) * (member_forecasts.ndim - 2))
    kept = np.where(weights > 0, member_forecasts, 0.0)
    if weights.shape[1] == 1:  # one weight per member: the sums tensordot always took
        return np.tensordot(weights[:, 0, ...].reshape(len(weights)), kept, axes=1)
    return (kept * weights).sum(axis=0)
