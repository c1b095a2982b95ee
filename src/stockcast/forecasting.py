"""The forecasting core: rolling-origin windows, baselines, errors per horizon step and pooled,
and the one check that a model's windows fit the data. NumPy only, so evaluation, prediction's
backtest, training metrics and monitoring all share it without importing torch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockcast.errors import ArtifactError

# {level: (lower, upper)}: prediction bands in price units, arrays shaped like the forecasts.
Bands = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class RollingOrigins:
    """Forecast origins over a series and what each one sees and must forecast.

    `origins[i]` is the index (in the series it came from) of window i's first target: its inputs
    are the `previous_time_window` values before it, its targets the `next_time_window` from it on.
    """

    origins: np.ndarray
    inputs: np.ndarray
    actual: np.ndarray

    def __len__(self) -> int:
        return len(self.origins)

    @property
    def next_time_window(self) -> int:
        return self.actual.shape[1]

    def aligned(self, forecast: np.ndarray, step: int, start: int, length: int) -> np.ndarray:
        """The `step`-ahead (1-based) forecasts placed at their target positions in
        `series[start:start + length]`, NaN elsewhere: a line to plot against the actuals."""
        line = np.full(length, np.nan)
        position = self.origins + step - 1 - start
        inside = (position >= 0) & (position < length)
        line[position[inside]] = np.asarray(forecast)[inside, step - 1]
        return line


def rolling_origins(
    values: np.ndarray,
    previous_time_window: int,
    next_time_window: int,
    window_starts: np.ndarray | None = None,
) -> RollingOrigins:
    """Every full window of `values` (or those beginning at `window_starts`), gathered at once."""
    values = np.asarray(values, dtype=np.float64)
    length = previous_time_window + next_time_window
    if window_starts is None:
        window_starts = np.arange(max(len(values) - length + 1, 0))
    starts = np.asarray(window_starts, dtype=np.int64)
    windows = values[starts[:, None] + np.arange(length)].reshape(len(starts), length)
    return RollingOrigins(
        origins=starts + previous_time_window,
        inputs=windows[:, :previous_time_window],
        actual=windows[:, previous_time_window:],
    )


def check_window_sizes(
    model: tuple[int, int],
    data: tuple[int, int],
    model_name: str,
    data_name: str = "the data has windows of",
    fix: str | None = None,
) -> None:
    """A model forecasts only windows of the sizes it was trained on; refuse anything else.

    The one window-compatibility check: evaluation, champion comparison and prediction use it.
    """
    if tuple(model) != tuple(data):
        fix = fix or (
            f"use data prepared with previous_time_window={model[0]} and "
            f"next_time_window={model[1]}, or another model"
        )
        raise ArtifactError(
            f"{model_name} takes {model[0]} values and forecasts {model[1]}, but {data_name} "
            f"{data[0]} in / {data[1]} out; {fix}."
        )


def naive_forecast(inputs: np.ndarray, next_time_window: int) -> np.ndarray:
    """Last observed value repeated over the horizon: the baseline a price model must beat."""
    return np.repeat(np.asarray(inputs, dtype=np.float64)[:, -1:], next_time_window, axis=1)


def seasonal_naive_forecast(
    inputs: np.ndarray, next_time_window: int, season_length: int
) -> np.ndarray:
    """The value one season before each target; needs season_length <= input window."""
    inputs = np.asarray(inputs, dtype=np.float64)
    if not 1 <= season_length <= inputs.shape[1]:
        raise ValueError("season_length must be between 1 and the input window length")
    steps = np.arange(next_time_window)
    # Step h (0-based) repeats the value season_length - (h % season_length) steps back.
    columns = inputs.shape[1] - season_length + (steps % season_length)
    return inputs[:, columns]


def forecast_errors(
    forecast: np.ndarray, actual: np.ndarray, mase_scale: float
) -> dict[str, np.ndarray]:
    """MAE, RMSE, MAPE (%) and MASE for each horizon step: arrays of shape (next_time_window,).

    MAPE skips targets that are exactly zero; MASE divides by the train split's one-step naive MAE.
    """
    forecast = np.asarray(forecast, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    error = forecast - actual
    abs_error = np.abs(error)
    nonzero = actual != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ape = np.where(nonzero, abs_error / np.abs(np.where(nonzero, actual, 1.0)), 0.0)
        mape = 100.0 * ape.sum(axis=0) / nonzero.sum(axis=0)
    mae = abs_error.mean(axis=0)
    return {
        "mae": mae,
        "rmse": np.sqrt((error**2).mean(axis=0)),
        "mape": mape,
        "mase": mae / mase_scale,
    }


def pooled_errors(forecast: np.ndarray, actual: np.ndarray, mase_scale: float) -> dict[str, float]:
    """The same metrics over every (window, step) pair at once."""
    per_step = forecast_errors(
        np.asarray(forecast).reshape(-1, 1), np.asarray(actual).reshape(-1, 1), mase_scale
    )
    return {name: float(values[0]) for name, values in per_step.items()}


def score(forecast: np.ndarray, actual: np.ndarray, mase_scale: float) -> dict[str, object]:
    """Pooled and per-step errors as JSON-ready numbers: what reports store per forecaster."""
    per_step = forecast_errors(forecast, actual, mase_scale)
    return {
        "pooled": pooled_errors(forecast, actual, mase_scale),
        "per_step": {name: values.tolist() for name, values in per_step.items()},
    }


# ---- prediction intervals ---------------------------------------------------------------------
# Residuals are measured in units of each window's recent volatility (mean absolute one-step
# change of its inputs), so an interval widens when the prices it forecasts from moved a lot.


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


def conformal_quantiles(
    residuals: np.ndarray, levels: tuple[int, ...] | list[int]
) -> dict[str, list[list[float]]]:
    """Split-conformal bounds per horizon step from held-out scaled residuals (actual - forecast).

    For level L (percent) the lower and upper bounds are the residuals' alpha/2 and 1 - alpha/2
    quantiles with the finite-sample correction ceil((n + 1) q) / n, so coverage on exchangeable
    new windows is at least nominal. Returns {"<L>": [lower per step, upper per step]}.
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


def apply_intervals(
    forecast: np.ndarray,
    scale: np.ndarray,
    bounds: dict[str, list[list[float]]],
) -> Bands:
    """{level: (lower, upper)} price bands from calibrated bounds and each row's scale."""
    forecast = np.asarray(forecast, dtype=np.float64)
    bands = {}
    for level, (lower, upper) in bounds.items():
        bands[level] = (
            forecast + np.asarray(lower)[None, :] * scale,
            forecast + np.asarray(upper)[None, :] * scale,
        )
    return bands


def quantile_bands(outputs: np.ndarray, quantiles: list[float] | tuple[float, ...]) -> Bands:
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


def spec_levels(spec: dict[str, Any]) -> list[str]:
    """The interval levels a model spec serves: its conformal bounds, or its quantile pairs."""
    bounds = (spec.get("intervals") or {}).get("bounds") or {}
    quantiles = spec["mlp"].get("quantiles") or []
    if bounds or not quantiles:
        return list(bounds)
    return list(quantile_bands(np.zeros((0, len(quantiles), 1)), quantiles))


def calibrate_intervals(
    inputs: np.ndarray,
    forecast: np.ndarray,
    actual: np.ndarray,
    levels: tuple[int, ...] | list[int],
    min_relative_scale: float = 1e-4,
) -> dict[str, list[list[float]]]:
    """Conformal bounds from held-out windows a forecaster did not train on."""
    scale = volatility_scale(inputs, min_relative_scale)
    return conformal_quantiles((np.asarray(actual) - np.asarray(forecast)) / scale, levels)


def random_walk_bands(
    history: RollingOrigins,
    inputs: np.ndarray,
    levels: list[int] | tuple[int, ...],
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


def interval_errors(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: int | str
) -> dict[str, np.ndarray]:
    """Per horizon step: coverage, mean width, interval (Winkler) score and the mean pinball loss
    of the two bounds (as the alpha/2 and 1 - alpha/2 quantiles)."""
    actual, lower, upper = (np.asarray(a, dtype=np.float64) for a in (actual, lower, upper))
    alpha = 1.0 - float(level) / 100.0
    below, above = actual < lower, actual > upper
    winkler = (
        (upper - lower)
        + (2.0 / alpha) * (lower - actual) * below
        + (2.0 / alpha) * (actual - upper) * above
    )
    return {
        "coverage": 1.0 - (below | above).mean(axis=0),
        "width": (upper - lower).mean(axis=0),
        "winkler": winkler.mean(axis=0),
        "pinball": 0.5
        * (pinball_loss(actual, lower, alpha / 2) + pinball_loss(actual, upper, 1 - alpha / 2)),
    }


def pinball_loss(actual: np.ndarray, quantile: np.ndarray, tau: float) -> np.ndarray:
    """Mean pinball (quantile) loss per horizon step of a tau-quantile forecast."""
    diff = np.asarray(actual, dtype=np.float64) - np.asarray(quantile, dtype=np.float64)
    return np.maximum(tau * diff, (tau - 1.0) * diff).mean(axis=0)


def diebold_mariano(errors_a: np.ndarray, errors_b: np.ndarray, step: int) -> tuple[float, float]:
    """Diebold–Mariano test of equal absolute error for `step`-ahead forecasts (1-based).

    d_t = |e_a| - |e_b|; its long-run variance uses autocovariances up to lag step - 1 (h-step
    errors of overlapping origins are correlated), with the Harvey–Leybourne–Newbold small-sample
    correction. Returns (statistic, two-sided p-value from the normal distribution): a negative
    statistic with a small p-value says `a` is more accurate than `b`.
    """
    d = np.abs(np.asarray(errors_a, dtype=np.float64)) - np.abs(
        np.asarray(errors_b, dtype=np.float64)
    )
    n = len(d)
    if n < 2:
        return float("nan"), float("nan")
    centred = d - d.mean()
    variance = centred @ centred / n
    for lag in range(1, min(step, n)):
        variance += 2.0 * (centred[lag:] @ centred[:-lag]) / n
    if not variance > 0:
        return float("nan"), float("nan")
    statistic = d.mean() / np.sqrt(variance / n)
    statistic *= np.sqrt((n + 1 - 2 * step + step * (step - 1) / n) / n)
    p_value = math.erfc(abs(statistic) / math.sqrt(2.0))
    return float(statistic), float(p_value)


def inverse_mse_weights(
    member_forecasts: np.ndarray, actual: np.ndarray, power: float = 1.0
) -> np.ndarray:
    """Combination weights (summing to 1) from each member's held-out errors: weight ∝ MSE **
    -power (Bates and Granger's inverse-MSE combination at power 1; higher powers lean harder on
    the better members). member_forecasts: (members, windows, horizon); actual: (windows, horizon).
    """
    errors = np.asarray(member_forecasts, dtype=np.float64) - np.asarray(actual, np.float64)[None]
    mse = (errors**2).reshape(len(errors), -1).mean(axis=1)
    best = mse.min()
    # Relative to the best member, so no power overflows; members exact on every window share
    # all the weight.
    raw = (mse == 0).astype(np.float64) if best == 0 else (best / mse) ** float(power)
    return raw / raw.sum()


# ---- the served model's output: one row per input window ------------------------------------


def forecast_columns(next_time_window: int, levels: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`forecast_1..H`, then `lower_<level>_<step>` and `upper_<level>_<step>` for each level."""
    steps = range(1, next_time_window + 1)
    columns = [f"forecast_{h}" for h in steps]
    for level in levels:
        columns += [f"lower_{level}_{h}" for h in steps]
        columns += [f"upper_{level}_{h}" for h in steps]
    return columns


def forecast_frame(point: np.ndarray, bands: Bands) -> Any:
    """The served model's answer as a DataFrame in `forecast_columns` order."""
    import pandas as pd

    blocks = [np.asarray(point, dtype=np.float64)]
    for lower, upper in bands.values():
        blocks += [lower, upper]
    columns = forecast_columns(point.shape[1], list(bands))
    return pd.DataFrame(np.hstack(blocks), columns=columns)


def split_forecast_frame(
    frame: Any,
) -> tuple[np.ndarray, Bands]:
    """(point forecasts, {level: (lower, upper)}) back from a served model's DataFrame."""
    columns = list(frame.columns)
    values = frame.to_numpy(dtype=np.float64)
    point_cols = [i for i, c in enumerate(columns) if c.startswith("forecast_")]
    next_time_window = len(point_cols)
    bands = {}
    for name in columns:
        if name.startswith("lower_") and name.endswith("_1"):
            level = name[len("lower_") : -len("_1")]
            lower = [columns.index(f"lower_{level}_{h}") for h in range(1, next_time_window + 1)]
            upper = [columns.index(f"upper_{level}_{h}") for h in range(1, next_time_window + 1)]
            bands[level] = (values[:, lower], values[:, upper])
    return values[:, point_cols], bands
