"""The windows a fit judges itself on, which its weights never trained on: the validation windows
(and a short validation split's rolling-origin folds), the network's forecasts of them, each one's
series' scale and time, and which members serve each. What a fit decides on them: how to weigh
its members (member_weights.py), whether to fall back to the last price (naive_fallback.py) and
how wide its bands are (calibration.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stockcast.data.mase_scales import series_of_windows, series_scales
from stockcast.data.prepared import PreparedData
from stockcast.data.split_recuts import join_splits
from stockcast.data.window_times import segment_values, window_times
from stockcast.forecasting.windows import RollingOrigins
from stockcast.models.level_range import set_aside_mask
from stockcast.models.network import PriceForecaster
from stockcast.training.batched import forward_in_batches
from stockcast.training.folds import FoldEvidence


def validation_forecasts(
    net: PriceForecaster,
    prepared: PreparedData,
    *,
    batch_size: int | None,
    members: bool = False,
    splits: Sequence[str] = ("val",),
    quantiles: bool = False,
) -> tuple[RollingOrigins, np.ndarray]:
    """Every validation window (rolling origins; of `splits` laid end to end, when given more)
    and the network's point forecast for it; with `members`, each member's, (members, windows,
    horizon); with `quantiles`, a quantile model's outputs (windows, horizon, quantiles).
    `batch_size` windows at a time (None: all at once): a panel's whole fitted span through
    every member at once can take gigabytes."""
    span = prepared.splits[splits[0]] if len(splits) == 1 else join_splits(prepared.splits, splits)
    windows = span.origins(prepared.window)
    net.eval()
    forward, axis = (net.member_forecasts, 1) if members else (net, 0)
    if quantiles:
        forward = net.quantile_forecast
    forecast = forward_in_batches(forward, windows.inputs, batch_size, windows_axis=axis)
    return windows, forecast


def held_out_forecasts(
    net: PriceForecaster,
    prepared: PreparedData,
    folds: FoldEvidence | None,
    *,
    batch_size: int | None,
    splits: Sequence[str] = ("val",),
    quantiles: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, point forecast, actual) of every window a fit judges itself on: the validation
    windows (`validation_forecasts`), then the rolling-origin folds' where there are any, their
    members combined as the network combines its own. With `quantiles`, a quantile model's
    outputs (windows, horizon, quantiles) in place of the point forecast."""
    windows, forecast = validation_forecasts(
        net, prepared, splits=splits, batch_size=batch_size, quantiles=quantiles
    )
    if folds is None:
        return windows.inputs, forecast, windows.actual
    weights = net.member_weights
    flat = None if weights is None else weights.flatten().double().numpy()
    combined = folds.combined_quantiles(flat) if quantiles else folds.combined(flat)
    return (
        np.concatenate([windows.inputs, folds.inputs]),
        np.concatenate([forecast, combined]),
        np.concatenate([windows.actual, folds.actual]),
    )


def window_scales(
    prepared: PreparedData, windows: RollingOrigins, folds: FoldEvidence | None = None
) -> np.ndarray:
    """Each held-out window's series' train one-step naive MAE: the validation windows', then
    the folds'. Pooled in prices, a panel's highest-priced series would decide every member's
    weight; in each series' own units every series counts (a single series' weights are the
    same either way)."""
    scales = series_scales(prepared.splits["train"])
    found = scales[series_of_windows(prepared.splits["val"], windows.origins)]
    if folds is None:
        return found
    # A fold's windows lie inside the train split its scale was measured on: fine for weighing.
    return np.concatenate([found, scales[folds.series]])


def held_out_times(prepared: PreparedData, folds: FoldEvidence | None = None) -> np.ndarray | None:
    """When each held-out window's first target falls (`window_times`), in `held_out_forecasts`'
    order: the validation windows', then the folds'; None where the folds' are not known."""
    val = prepared.splits["val"]
    test = prepared.splits.get("test")
    after = None if test is None else segment_values(test)
    found = window_times(val, val.origins(prepared.window).origins, after)
    if folds is None:
        return found
    return None if folds.times is None else np.concatenate([found, folds.times])


def held_out_set_aside(
    net: PriceForecaster, windows: RollingOrigins, folds: FoldEvidence | None = None
) -> np.ndarray | None:
    """(members, validation then fold windows): the members that stepped aside for each window
    outside its network's fitted range (`PriceForecaster.level_set_aside`); None: none did."""
    own = set_aside_mask(net, windows.inputs)
    if folds is not None:
        fold_part = folds.set_aside
        if fold_part is None:
            fold_part = np.zeros((net.core.members, len(folds)), dtype=bool)
        own = np.concatenate([own, fold_part], axis=1)
    return own if own.any() else None
