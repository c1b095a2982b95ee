"""How each ensemble member scales raw-price windows (`data.normalization`): by each window's own
statistics or by fixed train statistics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

# Scalers that scale each window by its own statistics; the level kind also feeds the core the
# window's level and spread (LEVEL_INPUTS more inputs).
PER_WINDOW_KIND = "per_window"
LEVEL_KIND = "per_window_level"
WINDOW_KINDS = (PER_WINDOW_KIND, LEVEL_KIND)
LEVEL_INPUTS = 2


class WindowScaler(nn.Module):
    """Maps raw-price windows to the scale a core works in, and forecasts back to prices.

    per_window: each window by its own mean and std (floored relative to its level, so a flat
    window gives finite output); per_window_level: the same, and loc/scale hold the train
    statistics the level inputs are measured against; standard/minmax: fixed train statistics;
    none: identity.
    """

    def __init__(
        self,
        kind: str,
        loc: float,
        scale: float,
        min_relative_scale: float,
        level: float = 1.0,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.min_relative_scale = min_relative_scale
        # The train data's size (its smallest series' mean absolute value; 1: a spec saved
        # before it was recorded).
        self.level = level
        self.register_buffer("loc", torch.tensor(float(loc)))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loc, scale) per row, each of shape (batch, 1)."""
        if self.kind not in WINDOW_KINDS:
            return self.loc.expand(x.shape[0], 1), self.scale.expand(x.shape[0], 1)
        loc = x.mean(dim=-1, keepdim=True)
        spread = row_spread(x, loc)
        # A share of the window's own level, so a window of any level is scaled alike; a window
        # whose mean is 0 (zeros) gets a unit of the data's own size instead. An absolute term
        # beside the share outweighed the spread of windows far below the data's size (a
        # model of prices near 100 forecast a flat window at 1e-7 6% away from it).
        relative = self.min_relative_scale * loc.abs()
        floor = torch.where(relative > 0, relative, torch.finfo(x.dtype).eps * self.level)
        return loc, torch.maximum(spread, floor)


def row_spread(x: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
    """Each row's population standard deviation about its mean `loc`, in two passes: on CPU,
    `Tensor.std` over rows of 192 values took ten times as long, a tenth of a training step."""
    return (x - loc).square().mean(dim=-1, keepdim=True).sqrt()


def scaler_members(scaler: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """One scaler spec per ensemble member: a single-normalization spec is its own member."""
    return list(scaler.get("members", [scaler]))
