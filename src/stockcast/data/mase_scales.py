"""Each series' MASE scale, its train split's one-step naive MAE, and the scale of each window:
what judges a forecast in its own series' units, a panel's series each in theirs."""

from __future__ import annotations

import numpy as np

from stockcast.data.split import SplitData
from stockcast.errors import DataError
from stockcast.forecasting.metrics import naive_scales, pooled_naive_scale


def series_of_windows(split: SplitData, origins: np.ndarray) -> np.ndarray:
    """Index of the series each window (by its first target's position in `split`) belongs to."""
    return np.searchsorted(split.offsets, origins, side="right") - 1


def series_scales(train: SplitData) -> np.ndarray:
    """Each series' train one-step naive MAE. A series that never moved in train has none; it
    gets the moving series' median MAE relative to their level, times its own level, so its
    errors are still measured in its own units: the others' MAE itself, in their prices, made
    one moving series of a panel decide its MASE. Without a moving series of nonzero level, or
    at a level of 0, it gets the moving series' mean MAE (1 where none moved)."""
    segments = train.segments()
    scales = naive_scales(segments)
    levels = np.array([np.abs(values).mean() if len(values) else 0.0 for values in segments])
    moving = np.isfinite(scales) & (scales > 0)
    if moving.all():
        return scales
    pooled = float(scales[moving].mean()) if moving.any() else 1.0
    leveled = moving & (levels > 0)
    relative = float(np.median(scales[leveled] / levels[leveled])) if leveled.any() else 0.0
    own = levels * relative
    return np.where(moving, scales, np.where(own > 0, own, pooled))


def scales_of_windows(train: SplitData, split: SplitData, origins: np.ndarray) -> np.ndarray:
    """Each window's MASE scale: the `series_scales` entry of the series its first target
    (`origins`, positions in `split`) lies in. Dividing by it judges a panel in each series'
    own units; for one series it is the pooled train scale."""
    return series_scales(train)[series_of_windows(split, origins)]


def naive_one_step_mae(split: SplitData) -> float:
    """In-sample MAE of the one-step naive forecast: the MASE denominator (never across series)."""
    mae = pooled_naive_scale(split.segments())
    if not np.isfinite(mae) or mae <= 0.0:
        raise DataError(
            "the train split (the first data.split.train of the data) is constant, so MASE has no "
            "scale; leave out the data's flat start, or give data.split.train enough of the data "
            "to reach where the series moves."
        )
    return mae
