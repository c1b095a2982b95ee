"""Calibrating prediction bands on held-out windows: split-conformal bounds where the windows are
enough for a level, Student-t bounds pooled over the steps where they are not, and the random
walk's bands that a model's are scored beside. The bounds are in `intervals`' volatility units."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.intervals import Bands, Bounds, apply_intervals, volatility_scale
from stockcast.forecasting.windows import RollingOrigins


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


def student_t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """Student's t quantile by the Cornish-Fisher expansion of the normal one (stdlib's): within
    about 1e-3 of the exact value from 4 degrees of freedom, and no SciPy in a served model."""
    z = NormalDist().inv_cdf(probability)
    v = float(degrees_of_freedom)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def conformal_inside_windows(level: int | str) -> int:
    """The fewest held-out windows whose split-conformal bounds at `level` are residuals inside
    the sample, not its most extreme ones (which hold fewer new windows than `level` percent,
    and are the same for every level above): n >= 4 / alpha - 1 (19 for 80%, 79 for 95%)."""
    return -(-400 // (100 - int(level))) - 1


def conformal_is_inside(windows: int, level: int | str) -> bool:
    return windows >= conformal_inside_windows(level)


def student_t_bounds(
    residuals: np.ndarray, level: int | str, profile: np.ndarray
) -> list[list[float]]:
    """Bounds from too few held-out windows for a conformal band at `level`: per step the
    residuals' mean plus or minus a Student-t prediction interval's half width. The spread is
    pooled over the steps, each step's residuals divided by `profile` (how the spread grows with
    the step, e.g. the naive forecast's on the train split): n windows give n x horizon values,
    where one step's n overlapping, correlated windows alone underestimate it."""
    residuals = np.asarray(residuals, dtype=np.float64)
    windows, steps = residuals.shape
    scaled = residuals / profile
    centre = scaled.mean(axis=0)
    spread = np.sqrt(((scaled - centre) ** 2).sum() / max(scaled.size - steps, 1))
    alpha = 1.0 - float(level) / 100.0
    half = student_t_quantile(1 - alpha / 2, max(windows - 1, 1)) * np.sqrt(1 + 1 / windows)
    return [
        ((centre - half * spread) * profile).tolist(),
        ((centre + half * spread) * profile).tolist(),
    ]


def calibrate_intervals(
    inputs: np.ndarray,
    forecast: np.ndarray,
    actual: np.ndarray,
    levels: Sequence[int],
    min_relative_scale: float = 1e-4,
    profile: np.ndarray | None = None,
    span: int | None = None,
    drift_free: bool = True,
    own_windows: int | None = None,
) -> Bounds:
    """Bounds from held-out windows a forecaster did not train on: split-conformal at each level
    whose conformal bound falls inside the sample, Student-t bounds pooled over the steps at the
    others (`profile`: the spread's growth with the step; default sqrt(step)), in units of each
    window's `volatility_scale` over its last `span` values (`drift_free`: which unit). Each
    level's band holds the one below it, wider by the ratio of their t quantiles at least: never
    equal.

    `own_windows`: the first rows are the forecaster's own held-out windows and the rest are
    more evidence (fits on earlier cuts, which err somewhat more): a level those first rows
    give a split-conformal band is calibrated on them alone, the others on every row
    (`calibration_rows`)."""
    scale = volatility_scale(inputs, min_relative_scale, span, drift_free)
    residuals = (np.asarray(actual) - np.asarray(forecast)) / scale
    steps = residuals.shape[1]
    profile = np.sqrt(np.arange(1, steps + 1)) if profile is None else np.asarray(profile)
    windows = len(residuals)
    centre = residuals.mean(axis=0)
    bounds: Bounds = {}
    inner: tuple[int, list[list[float]]] | None = None
    for level in sorted(int(level) for level in levels):
        rows = residuals[: calibration_rows(windows, level, own_windows)]
        if conformal_is_inside(len(rows), level):
            found = conformal_quantiles(rows, [level])[str(level)]
        else:
            found = student_t_bounds(rows, level, profile)
        if inner is not None:
            found = _holding(found, inner, level, centre, max(windows - 1, 1))
        bounds[str(level)] = found
        inner = (level, found)
    return bounds


def calibration_rows(windows: int, level: int | str, own_windows: int | None = None) -> int:
    """How many of the first calibration windows give `level`'s bounds: the `own_windows` where
    they are enough for its split-conformal band, otherwise all `windows`."""
    if own_windows is not None and conformal_is_inside(own_windows, level):
        return own_windows
    return windows


def _holding(
    found: list[list[float]],
    inner: tuple[int, list[list[float]]],
    level: int,
    centre: np.ndarray,
    dof: int,
) -> list[list[float]]:
    """`found` widened where needed to hold the lower level's band by the ratio of the two
    levels' t quantiles."""
    below, (low, high) = inner
    ratio = student_t_quantile(1 - (1 - level / 100) / 2, dof) / student_t_quantile(
        1 - (1 - below / 100) / 2, dof
    )
    lower = np.minimum(found[0], centre - (centre - np.asarray(low)) * ratio)
    upper = np.maximum(found[1], centre + (np.asarray(high) - centre) * ratio)
    return [lower.tolist(), upper.tolist()]


def naive_spread_profile(
    history: RollingOrigins,
    min_relative_scale: float = 1e-4,
    span: int | None = None,
    drift_free: bool = True,
) -> np.ndarray | None:
    """How the naive forecast's scaled error spreads out step by step over `history` (its
    standard deviation per step): the shape Student-t bounds give their pooled spread. None when
    the history is too short to say (two windows or fewer, or no movement)."""
    if len(history) < 3:
        return None
    scale = volatility_scale(history.inputs, min_relative_scale, span, drift_free)
    errors = (history.actual - naive_forecast(history.inputs, history.next_time_window)) / scale
    spread = errors.std(axis=0)
    return spread if np.all(spread > 0) else None


def calibration_methods(
    windows: int, levels: Sequence[int], own_windows: int | None = None
) -> dict[str, str]:
    """Which bound `calibrate_intervals` gives each level from `windows` held-out windows."""
    return {
        str(level): "split_conformal"
        if conformal_is_inside(calibration_rows(windows, level, own_windows), level)
        else "student_t"
        for level in levels
    }


def centred_bounds(bounds: Bounds) -> Bounds:
    """The same widths, centred on the forecast: a refit's forecasts are not the evaluated
    model's, so the bias the evaluated model showed on the validation windows (each band's
    offset from its forecast) does not carry over; how far it erred does."""
    centred: Bounds = {}
    for level, (lower, upper) in bounds.items():
        half = (np.asarray(upper, dtype=np.float64) - np.asarray(lower, dtype=np.float64)) / 2
        centred[level] = [(-half).tolist(), half.tolist()]
    return centred


def random_walk_bands(
    history: RollingOrigins,
    inputs: np.ndarray,
    levels: Sequence[int],
    min_relative_scale: float = 1e-4,
    span: int | None = None,
    drift_free: bool = True,
) -> Bands:
    """The naive forecast with random-walk intervals: empirical quantiles of the history's h-step
    changes, in the same volatility units as the model's conformal bands (`span`, `drift_free`:
    theirs)."""
    if not levels:
        return {}
    horizon = history.next_time_window
    bounds = calibrate_intervals(
        history.inputs,
        naive_forecast(history.inputs, horizon),
        history.actual,
        levels,
        min_relative_scale,
        span=span,
        drift_free=drift_free,
    )
    naive = naive_forecast(inputs, horizon)
    scale = volatility_scale(inputs, min_relative_scale, span, drift_free)
    return apply_intervals(naive, scale, bounds)
