"""Prediction bands: split-conformal bounds in units of each window's recent volatility, and the
bands of quantile models and of the random walk.

Residuals are measured in units of each window's recent volatility (mean absolute one-step change
of its inputs), so a band widens when the prices it forecasts from moved a lot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.windows import RollingOrigins

# {level: (lower, upper)}: prediction bands in price units, arrays shaped like the forecasts.
Bands = dict[str, tuple[np.ndarray, np.ndarray]]
# {level: [lower per step, upper per step]}: calibrated bounds in volatility units.
Bounds = dict[str, list[list[float]]]


def volatility_scale(inputs: np.ndarray, min_relative_scale: float = 1e-4) -> np.ndarray:
    """Mean absolute one-step change of each input row, shape (n, 1); floored relative to the
    last price so a flat window still gives a finite (narrow) interval."""
    inputs = np.asarray(inputs, dtype=np.float64)
    moves = np.abs(np.diff(inputs, axis=1)).mean(axis=1, keepdims=True)
    floor = min_relative_scale * np.abs(inputs[:, -1:]) + np.finfo(np.float64).eps
    return np.maximum(moves, floor)


def conformal_windows_needed(level: int | str) -> int:
    """The fewest held-out windows whose split-conformal band at `level` percent is finite:
    n >= 2 / alpha - 1 (9 for 80%, 39 for 95%). With fewer, the bound is the widest residual
    seen, and the band covers less than `level` percent of new windows on average."""
    # 2 / alpha = 200 / (100 - level), in whole numbers: no float round-off at 80 or 95.
    return -(-200 // (100 - int(level))) - 1


def conformal_quantiles(residuals: np.ndarray, levels: Sequence[int]) -> Bounds:
    """Split-conformal bounds per horizon step from held-out scaled residuals (actual - forecast).

    For level L (percent) the lower and upper bounds are the residuals' alpha/2 and 1 - alpha/2
    quantiles with the finite-sample correction ceil((n + 1) q) / n, so coverage on exchangeable
    new windows is at least nominal.
    """
    residuals = np.asarray(residuals, dtype=np.float64)
    n = len(residuals)
    if n == 0:
        raise ValueError("conformal calibration needs at least one held-out window")
    bounds = {}
    for level in levels:
        alpha = 1.0 - float(level) / 100.0
        upper_q = min(1.0, np.ceil((n + 1) * (1.0 - alpha / 2.0)) / n)
        lower_q = max(0.0, np.floor((n + 1) * (alpha / 2.0)) / n)
        lower = np.quantile(residuals, lower_q, axis=0, method="inverted_cdf")
        upper = np.quantile(residuals, upper_q, axis=0, method="inverted_cdf")
        bounds[str(int(level))] = [lower.tolist(), upper.tolist()]
    return bounds


def calibrate_intervals(
    inputs: np.ndarray,
    forecast: np.ndarray,
    actual: np.ndarray,
    levels: Sequence[int],
    min_relative_scale: float = 1e-4,
) -> Bounds:
    """Conformal bounds from held-out windows a forecaster did not train on."""
    scale = volatility_scale(inputs, min_relative_scale)
    return conformal_quantiles((np.asarray(actual) - np.asarray(forecast)) / scale, levels)


def apply_intervals(forecast: np.ndarray, scale: np.ndarray, bounds: Bounds) -> Bands:
    """{level: (lower, upper)} price bands from calibrated bounds and each row's scale."""
    forecast = np.asarray(forecast, dtype=np.float64)
    return {
        level: (
            forecast + np.asarray(lower)[None, :] * scale,
            forecast + np.asarray(upper)[None, :] * scale,
        )
        for level, (lower, upper) in bounds.items()
    }


def quantile_bands(outputs: np.ndarray, quantiles: Sequence[float]) -> Bands:
    """Bands from a quantile model's outputs (n, quantiles, steps): each pair q, 1 - q gives the
    (1 - 2q) level, e.g. 0.1 and 0.9 the 80% band."""
    bands = {}
    rounded = [round(q, 6) for q in quantiles]
    for i, q in enumerate(rounded):
        partner = round(1.0 - q, 6)
        if q < 0.5 and partner in rounded:
            level = str(round(100 * (1.0 - 2.0 * q)))
            bands[level] = (outputs[:, i, :], outputs[:, rounded.index(partner), :])
    return dict(sorted(bands.items(), key=lambda item: int(item[0])))


def quantile_levels(quantiles: Sequence[float]) -> list[str]:
    """The band levels a quantile model's outputs give (`quantile_bands`' keys)."""
    return list(quantile_bands(np.zeros((0, len(quantiles), 1)), quantiles))


def random_walk_bands(
    history: RollingOrigins,
    inputs: np.ndarray,
    levels: Sequence[int],
    min_relative_scale: float = 1e-4,
) -> Bands:
    """The naive forecast with random-walk intervals: empirical quantiles of the history's h-step
    changes, in the same volatility units as the model's conformal bands."""
    if not levels:
        return {}
    horizon = history.next_time_window
    bounds = calibrate_intervals(
        history.inputs,
        naive_forecast(history.inputs, horizon),
        history.actual,
        levels,
        min_relative_scale,
    )
    naive = naive_forecast(inputs, horizon)
    return apply_intervals(naive, volatility_scale(inputs, min_relative_scale), bounds)
