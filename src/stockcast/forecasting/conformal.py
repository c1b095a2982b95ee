"""Calibrating prediction bands on held-out windows: split-conformal bounds where the windows are
enough for a level, Student-t bounds pooled over the steps where they are not, and the random
walk's bands that a model's are scored beside. The bounds are in `intervals`' volatility units."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stockcast.forecasting.baselines import naive_forecast, seasonal_naive_forecast
from stockcast.forecasting.intervals import (
    Bands,
    Bounds,
    above_floor,
    apply_intervals,
    moved_windows,
    volatility_scale,
)
from stockcast.forecasting.quantiles import quantile_bands
from stockcast.forecasting.student_t import student_t_quantile
from stockcast.forecasting.windows import RollingOrigins

# The share of the widest step's spread below which a step's spread is float round-off: the
# square root of float64's precision, far below any spread a real series' errors have.
SPREAD_ROUND_OFF = float(np.finfo(np.float64).eps) ** 0.5


def conformal_inside_windows(level: int | str) -> int:
    """The fewest held-out windows whose split-conformal bound at `level` percent is an error
    inside the sample, not the largest one: the bound's rank ceil((n + 1)(1 - alpha)) is at most
    n - 1 from n >= 2 / alpha - 1 (9 for 80%, 39 for 95%). The largest error is the noisiest
    bound there is, and the same one for every level above: with fewer windows the Student-t
    bound takes over, which says how much the few windows leave unknown."""
    # 2 / alpha = 200 / (100 - level), in whole numbers: no float round-off at 80 or 95.
    return -(-200 // (100 - int(level))) - 1


def conformal_is_inside(windows: int, level: int | str) -> bool:
    return windows >= conformal_inside_windows(level)


def conformal_half_widths(errors: np.ndarray, level: int | str) -> np.ndarray:
    """Split-conformal half widths per horizon step from held-out scaled errors' sizes: the
    ceil((n + 1)(1 - alpha))-th smallest (the finite-sample correction), so coverage on
    exchangeable new windows is at least nominal. From fewer than 1 / alpha - 1 windows that
    rank is past the sample and the largest size is taken, which holds less."""
    return conformal_quantile(np.abs(np.asarray(errors, dtype=np.float64)), level)


def conformal_quantile(scores: np.ndarray, level: int | str) -> np.ndarray:
    """Per horizon step, the ceil((n + 1)(1 - alpha))-th smallest of n held-out windows'
    conformity scores (the largest where that rank is past the sample): the split-conformal
    quantile, signed as the scores are."""
    scores = np.sort(np.asarray(scores, dtype=np.float64), axis=0)
    n = len(scores)
    if n == 0:
        raise ValueError("conformal calibration needs at least one held-out window")
    # ceil((n + 1) * level / 100) in whole numbers: no float round-off picks the next error.
    rank = min(-(-(n + 1) * int(level) // 100), n)
    return scores[rank - 1]


def quantile_corrections(
    inputs: np.ndarray,
    outputs: np.ndarray,
    actual: np.ndarray,
    quantiles: Sequence[float],
    min_relative_scale: float,
    span: int | None = None,
    own_windows: int | None = None,
    still_unit: float | None = None,
    still_move: float | None = None,
) -> dict[str, list[float]]:
    """Conformalized quantile regression (Romano, Patterson and Candès, 2019): per level of a
    quantile model's bands (`quantile_bands` of its held-out `outputs`, (windows, quantiles,
    steps)), how far past each bound the actual value lay, at most (below zero: how far inside
    it, at least), in units of each window's `volatility_scale` over its last `span` values,
    taken at the split-conformal rank per step: the amount each served band is widened by (or
    narrowed, where negative) on both sides, in its window's unit, for coverage of at least the
    level on exchangeable new windows. Levels whose windows are too few for a conformal rank
    inside the sample (`conformal_is_inside`) are left out: the largest score is no bound
    (`calibration_rows`: which windows, as the conformal bands choose them).

    `still_unit`, `still_move`: the unit a served window that did not move gets, which the
    scores of such windows are measured in, as `calibrate_intervals`' errors are."""
    moved = moved_windows(inputs, min_relative_scale, span)
    scale = volatility_scale(inputs, min_relative_scale, span, True, still_unit, still_move)
    actual = np.asarray(actual, dtype=np.float64)
    corrections = {}
    for level, (lower, upper) in quantile_bands(outputs, quantiles).items():
        rows = calibration_rows(moved, level, own_windows)
        if not conformal_is_inside(int(rows.sum()), level):
            continue
        scores = np.maximum(lower - actual, actual - upper) / scale
        corrections[level] = conformal_quantile(scores[rows], level).tolist()
    return corrections


def student_t_half_widths(errors: np.ndarray, level: int | str, profile: np.ndarray) -> np.ndarray:
    """Half widths from too few held-out windows for a conformal band at `level`: a Student-t
    prediction interval's form, t quantile (n - 1 degrees of freedom) times sqrt(1 + 1 / n) times
    the errors' root mean square, wider than needed where the errors have no bias (no mean is
    estimated), on purpose for a handful of overlapping windows. The root mean square is pooled
    over the steps, each step's errors divided by `profile` (how the spread grows with the step,
    e.g. `baseline_spread_profile` on the train split): n windows give n x horizon values, where one
    step's n overlapping, correlated windows alone underestimate it. It is taken about zero, so
    a bias the windows showed widens the band on both sides instead of moving it."""
    errors = np.asarray(errors, dtype=np.float64)
    windows = len(errors)
    spread = np.sqrt(np.mean((errors / profile) ** 2))
    alpha = 1.0 - float(level) / 100.0
    t = student_t_quantile(1 - alpha / 2, max(windows - 1, 1))
    return t * np.sqrt(1 + 1 / windows) * spread * np.asarray(profile, dtype=np.float64)


def calibrate_intervals(
    inputs: np.ndarray,
    forecast: np.ndarray,
    actual: np.ndarray,
    levels: Sequence[int],
    min_relative_scale: float,
    profile: np.ndarray | None = None,
    span: int | None = None,
    drift_free: bool = True,
    own_windows: int | None = None,
    still_unit: float | None = None,
    still_move: float | None = None,
) -> Bounds:
    """Bounds centred on the forecast from held-out windows a forecaster did not train on:
    split-conformal at each level whose conformal bound falls inside the sample, Student-t at
    the others (`profile`: the spread's growth with the step; default sqrt(step)), in units of
    each window's `volatility_scale` over its last `span` values (`drift_free`: which unit).
    Each level's band holds the one below it, wider by the ratio of their t quantiles at least:
    never equal, unless no window's error at that step was above zero. Windows that did not
    move (their unit is the floor) are left out where others moved.

    The errors are scored by their size, not their sign: each tail of a band fitted on its own
    sign's errors needs twice the windows, and the lean a short validation span shows (a model
    trailing a boom it did not foresee) is that span's, not the next one's, so a band shifted by
    it misses on the other side when the regime turns.

    `own_windows`: the first rows are the forecaster's own held-out windows and the rest are
    more evidence (fits on earlier cuts, which err somewhat more): a level those first rows
    give a split-conformal band is calibrated on them alone, the others on every row
    (`calibration_rows`).

    `still_unit`, `still_move`: the unit a served window that did not move gets
    (`volatility_scale`'s). Where no window moved, every error is measured in it: in the floor's
    unit, a ten-thousandth of the price, a validation split inside a flat stretch gave a price of
    90 a 95% band from 0 to 790 at a window served in its own moves' unit."""
    if len(actual) == 0:
        raise ValueError("calibrating bands needs at least one held-out window")
    scale = volatility_scale(inputs, min_relative_scale, span, drift_free)
    moved = above_floor(scale, inputs, min_relative_scale)
    # The windows that moved keep their own unit; the others take the one they are served in.
    served = volatility_scale(inputs, min_relative_scale, span, drift_free, still_unit, still_move)
    errors = np.abs(np.asarray(actual) - np.asarray(forecast)) / served
    steps = errors.shape[1]
    profile = np.sqrt(np.arange(1, steps + 1)) if profile is None else np.asarray(profile)
    bounds: Bounds = {}
    inner: tuple[int, np.ndarray] | None = None
    counted = int(usable_windows(moved).sum())
    for level in sorted(int(level) for level in levels):
        rows = errors[calibration_rows(moved, level, own_windows)]
        if conformal_is_inside(len(rows), level):
            half = conformal_half_widths(rows, level)
        else:
            half = student_t_half_widths(rows, level, profile)
        if inner is not None:
            half = np.maximum(half, inner[1] * _t_ratio(level, inner[0], max(counted - 1, 1)))
            # No ratio widens a zero bound (a price that stayed put on most windows): there the
            # level takes the smallest error that was not zero, where there was one.
            half = np.where(half > inner[1], half, np.maximum(half, _smallest_positive(rows)))
        bounds[str(level)] = [(-half).tolist(), half.tolist()]
        inner = (level, half)
    return bounds


def _smallest_positive(errors: np.ndarray) -> np.ndarray:
    """Each step's smallest error above zero, or zero where every error is."""
    positive = np.where(errors > 0, errors, np.inf).min(axis=0)
    return np.where(np.isfinite(positive), positive, 0.0)


def usable_windows(moved: np.ndarray) -> np.ndarray:
    """The windows a band may be calibrated on: those that moved, or all where none did."""
    return moved if moved.any() else np.ones_like(moved)


def calibration_rows(
    moved: np.ndarray, level: int | str, own_windows: int | None = None
) -> np.ndarray:
    """Which calibration windows give `level`'s bounds: those that moved (all of them where
    none did), among the first `own_windows` where those are enough for its split-conformal
    band, otherwise among all."""
    usable = usable_windows(moved)
    if own_windows is not None and conformal_is_inside(int(usable[:own_windows].sum()), level):
        return usable & (np.arange(len(usable)) < own_windows)
    return usable


def _t_ratio(level: int, below: int, dof: int) -> float:
    """How much wider a `level` band is than a `below` one at least: their t quantiles' ratio."""
    return student_t_quantile(1 - (1 - level / 100) / 2, dof) / student_t_quantile(
        1 - (1 - below / 100) / 2, dof
    )


def baseline_spread_profile(
    history: RollingOrigins,
    season: int,
    min_relative_scale: float,
    span: int | None = None,
    drift_free: bool = True,
) -> np.ndarray | None:
    """How a baseline's scaled error spreads out step by step over `history` (its standard
    deviation per step): the shape Student-t bounds give their pooled spread. The baseline is
    the naive forecast, or the seasonal naive one where the windows hold a `season` of more than
    one value and its errors spread less on `history`: on seasonal data the naive forecast's spread
    follows the season (widest half a season ahead, narrowest a whole season ahead), which a
    model that forecasts the season does not, and a monthly model's 95% band took that hump;
    on a random walk with a week of business days the seasonal naive's is flat where the
    error grows with the step. None when the history is too short to say (two windows or
    fewer, or no movement)."""
    if len(history) < 3:
        return None
    horizon = history.next_time_window
    scale = volatility_scale(history.inputs, min_relative_scale, span, drift_free)
    errors = (history.actual - naive_forecast(history.inputs, horizon)) / scale
    if 1 < season <= history.inputs.shape[1]:
        forecast = seasonal_naive_forecast(history.inputs, horizon, season)
        seasonal = (history.actual - forecast) / scale
        # Judged on the spread the profile is: a trend biases the seasonal naive's errors (a
        # larger mean error) without spreading them, and chosen by mean error the naive's
        # seasonal zig-zag made a quarterly model's 95% band three times wider every other step.
        if seasonal.std(axis=0).mean() < errors.std(axis=0).mean():
            errors = seasonal
    spread = errors.std(axis=0)
    # A step whose errors are all alike spreads by round-off (5e-17), not by zero: read as none.
    varies = spread > SPREAD_ROUND_OFF * spread.max()
    return spread if spread.max() > 0 and np.all(varies) else None


def calibration_methods(
    moved: np.ndarray, levels: Sequence[int], own_windows: int | None = None
) -> dict[str, str]:
    """Which bound `calibrate_intervals` gives each level from held-out windows of which
    `moved` (`moved_windows`) moved."""
    return {
        str(level): "split_conformal"
        if conformal_is_inside(int(calibration_rows(moved, level, own_windows).sum()), level)
        else "student_t"
        for level in levels
    }


def centred_bounds(bounds: Bounds) -> Bounds:
    """The same widths, centred on the forecast. Bounds calibrated here are centred already; a
    model saved before kept each tail's own bound, and a refit of it (whose forecasts are not
    that model's) must not carry the lean it showed on its validation windows."""
    centred: Bounds = {}
    for level, (lower, upper) in bounds.items():
        half = (np.asarray(upper, dtype=np.float64) - np.asarray(lower, dtype=np.float64)) / 2
        centred[level] = [(-half).tolist(), half.tolist()]
    return centred


def random_walk_bands(
    history: RollingOrigins,
    inputs: np.ndarray,
    levels: Sequence[int],
    min_relative_scale: float,
    span: int | None = None,
    drift_free: bool = True,
    still_unit: float | None = None,
    still_move: float | None = None,
) -> Bands:
    """The naive forecast with random-walk intervals: the history's h-step changes' sizes
    calibrated as a model's errors are, in the same volatility units as the model's bands
    (`span`, `drift_free`, `still_unit`, `still_move`: theirs)."""
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
        still_unit=still_unit,
        still_move=still_move,
    )
    naive = naive_forecast(inputs, horizon)
    scale = volatility_scale(inputs, min_relative_scale, span, drift_free, still_unit, still_move)
    return apply_intervals(naive, scale, bounds)
