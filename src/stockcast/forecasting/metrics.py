"""Errors of point forecasts and bands, the MASE scale they are divided by, and the test of
whether one forecaster's errors are really smaller than another's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stockcast.forecasting.student_t import student_t_two_sided_p


def naive_scales(series: Sequence[np.ndarray]) -> np.ndarray:
    """Each series' in-sample MAE of the one-step naive forecast (NaN for one of fewer than two
    values): the per-series MASE denominator."""
    return np.array(
        [np.abs(np.diff(values)).mean() if len(values) > 1 else np.nan for values in series]
    )


def pooled_naive_scale(series: Sequence[np.ndarray]) -> float:
    """The one-step naive MAE over every step of every series (never across two series): the
    MASE denominator of a pooled evaluation. Not finite or 0 when the series never move."""
    moves = [np.abs(np.diff(values)) for values in series]
    return float(np.concatenate(moves).mean()) if moves else float("nan")


# What `forecast_errors` measures, by name.
ERROR_METRICS = ("mae", "rmse", "mape", "mase")


def forecast_errors(
    forecast: np.ndarray, actual: np.ndarray, mase_scale: float | np.ndarray
) -> dict[str, np.ndarray]:
    """MAE, RMSE, MAPE (%) and MASE for each horizon step: arrays of shape (next_time_window,).

    MAPE skips targets that are exactly zero; MASE divides by `mase_scale`: one number
    (`pooled_naive_scale` of the train split), or one per window (its series' own train scale,
    so that a panel's MASE weighs every series in its own units, not in prices).
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
    mase = mae / mase_scale if np.ndim(mase_scale) == 0 else _scaled_mae(abs_error, mase_scale)
    rmse = np.sqrt((error**2).mean(axis=0))
    return dict(zip(ERROR_METRICS, (mae, rmse, mape, mase), strict=True))


def _scaled_mae(abs_error: np.ndarray, window_scales: np.ndarray) -> np.ndarray:
    """Each step's mean over windows of the absolute error divided by its window's scale."""
    scales = np.asarray(window_scales, dtype=np.float64)
    if scales.shape != abs_error.shape[:1]:
        raise ValueError(f"{scales.shape[0]} scales for {len(abs_error)} windows")
    return (abs_error / scales[:, None]).mean(axis=0)


def pooled_errors(
    forecast: np.ndarray, actual: np.ndarray, mase_scale: float | np.ndarray
) -> dict[str, float]:
    """The same metrics over every (window, step) pair at once. Per-window scales: one per row
    of `forecast` (a 2-D forecast's window, a 1-D forecast's single pair)."""
    forecast = np.asarray(forecast)
    if np.ndim(mase_scale):  # one scale per window: one per (window, step) pair
        mase_scale = np.repeat(np.asarray(mase_scale), forecast.size // max(len(forecast), 1))
    per_step = forecast_errors(
        forecast.reshape(-1, 1), np.asarray(actual).reshape(-1, 1), mase_scale
    )
    return {name: float(values[0]) for name, values in per_step.items()}


def score(
    forecast: np.ndarray, actual: np.ndarray, mase_scale: float | np.ndarray
) -> dict[str, object]:
    """Pooled and per-step errors as JSON-ready numbers: what reports store per forecaster."""
    per_step = forecast_errors(forecast, actual, mase_scale)
    return {
        "pooled": pooled_errors(forecast, actual, mase_scale),
        "per_step": {name: values.tolist() for name, values in per_step.items()},
    }


def inside_band(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Whether each target lies in its band, edges included: what coverage counts."""
    actual = np.asarray(actual, dtype=np.float64)
    return (actual >= np.asarray(lower)) & (actual <= np.asarray(upper))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """The share of targets inside their bands, over every window and step."""
    inside = inside_band(actual, lower, upper)
    return float(inside.mean()) if inside.size else float("nan")


def pinball_loss(actual: np.ndarray, quantile: np.ndarray, tau: float) -> np.ndarray:
    """Mean pinball (quantile) loss per horizon step of a tau-quantile forecast."""
    diff = np.asarray(actual, dtype=np.float64) - np.asarray(quantile, dtype=np.float64)
    return np.maximum(tau * diff, (tau - 1.0) * diff).mean(axis=0)


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
        "coverage": inside_band(actual, lower, upper).mean(axis=0),
        "width": (upper - lower).mean(axis=0),
        "winkler": winkler.mean(axis=0),
        "pinball": 0.5
        * (pinball_loss(actual, lower, alpha / 2) + pinball_loss(actual, upper, 1 - alpha / 2)),
    }


def diebold_mariano(
    errors_a: np.ndarray, errors_b: np.ndarray, step: int, times: np.ndarray | None = None
) -> tuple[float, float]:
    """Diebold–Mariano test of equal absolute error for `step`-ahead forecasts (1-based).

    `times` (one sortable key per error; None: the errors are one series, in time order):
    the differences of windows at one time are averaged into one, the series tested in time
    order. A panel's series on one date are one observation: tested as separate ones, eight
    copies of a series gave p-values of 0 where the series alone gave 0.27.

    d_t = |e_a| - |e_b|; its long-run variance uses autocovariances up to lag step - 1 (h-step
    errors of overlapping origins are correlated), with the Harvey–Leybourne–Newbold small-sample
    correction, whose statistic is read against Student's t with n - 1 degrees of freedom (the
    normal distribution gave 1e-30 where t gives 3e-4, from five windows). Returns (statistic,
    two-sided p-value): a negative statistic with a small p-value says `a` is more accurate
    than `b`; NaN for both where there are no more errors than `step`, or the differences have
    no variance (`a` is `b`).

    Those autocovariances, weighed alike, can sum to a negative variance where d_t swings (a
    season in the errors); the Newey–West (Bartlett) weights 1 - lag / step, never negative,
    take over there, so a clear difference is not read as no verdict.
    """
    d = np.abs(np.asarray(errors_a, dtype=np.float64)) - np.abs(
        np.asarray(errors_b, dtype=np.float64)
    )
    if times is not None:
        _, at = np.unique(np.asarray(times), return_inverse=True)
        d = np.bincount(at, weights=d) / np.bincount(at)
    n = len(d)
    if n <= step:  # no more windows than the lags the variance needs: no verdict
        return float("nan"), float("nan")
    centred = d - d.mean()
    autocovariances = [centred @ centred / n] + [
        2.0 * (centred[lag:] @ centred[:-lag]) / n for lag in range(1, min(step, n))
    ]
    variance = sum(autocovariances)
    if not variance > 0:
        variance = sum((1 - lag / step) * value for lag, value in enumerate(autocovariances))
    if not variance > 0:
        return float("nan"), float("nan")
    statistic = d.mean() / np.sqrt(variance / n)
    statistic *= np.sqrt((n + 1 - 2 * step + step * (step - 1) / n) / n)
    p_value = student_t_two_sided_p(statistic, n - 1)
    return float(statistic), float(p_value)


def inverse_mse_weights(
    member_forecasts: np.ndarray, actual: np.ndarray, power: float
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
