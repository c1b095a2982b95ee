"""Calibrating prediction bands on held-out windows: split-conformal bounds where the windows are
enough for a level, Student-t bounds pooled over the steps where they are not, and the random
walk's bands that a model's are scored beside. The bounds are in `intervals`' volatility units."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.intervals import (
    Bands,
    Bounds,
    above_floor,
    apply_intervals,
    volatility_scale,
)
from stockcast.forecasting.windows import RollingOrigins

# Halvings of the angle interval [0, pi / 2) when inverting the t distribution: 64 reach float
# precision.
BISECTION_STEPS = 64
# From these degrees of freedom on, the t quantile is the normal one's expansion in 1 / dof
# (Cornish-Fisher, four terms): as exact as the bisection there (it agrees with scipy to about
# 1e-14 from 1,000 on; the bisection's finite sum has as many terms as windows, 2 s at 400,000).
EXPANSION_DOF = 1000


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
    errors = np.sort(np.abs(np.asarray(errors, dtype=np.float64)), axis=0)
    n = len(errors)
    if n == 0:
        raise ValueError("conformal calibration needs at least one held-out window")
    # ceil((n + 1) * level / 100) in whole numbers: no float round-off picks the next error.
    rank = min(-(-(n + 1) * int(level) // 100), n)
    return errors[rank - 1]


def student_t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """Student's t quantile for whole degrees of freedom, exact to float precision: the central
    probability's closed form (`_central_t_probability`) inverted by bisection over the angle.
    The normal quantile's Cornish-Fisher expansion it replaces was 24% short at 95% with one
    degree of freedom (9.71 against 12.71), the 2-window calibration that reaches it."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"a quantile needs a probability in (0, 1), not {probability}")
    dof = int(degrees_of_freedom)
    if dof < 1:
        raise ValueError(f"Student's t needs at least 1 degree of freedom, not {dof}")
    if probability < 0.5:
        return -student_t_quantile(1.0 - probability, dof)
    if dof >= EXPANSION_DOF:
        return _t_quantile_expansion(probability, dof)
    central = 2.0 * probability - 1.0  # P(|T| <= t)
    low, high = 0.0, math.pi / 2
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if _central_t_probability(middle, dof) < central:
            low = middle
        else:
            high = middle
    return math.sqrt(dof) * math.tan((low + high) / 2)


def _t_quantile_expansion(probability: float, dof: int) -> float:
    """The t quantile as the normal quantile z plus its Cornish-Fisher terms in 1 / dof, up to
    the fourth (Abramowitz and Stegun 26.7.5), for large `dof` only: its error falls as
    dof^-5, so at one degree of freedom it is far off."""
    z = NormalDist().inv_cdf(probability)
    terms = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    return z + sum(term / dof ** (k + 1) for k, term in enumerate(terms))


def _central_t_probability(angle: float, dof: int) -> float:
    """P(|T| <= sqrt(dof) tan(angle)) for Student's t with whole `dof` (Abramowitz and Stegun
    26.7.3 and 26.7.4): a finite sum of powers of cos(angle)."""
    sin, cos = math.sin(angle), math.cos(angle)
    square = cos * cos
    if dof % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(1, dof // 2):
            term *= square * (2 * k - 1) / (2 * k)
            total += term
        return sin * total
    term, total = cos, 0.0
    for k in range(1, (dof - 1) // 2 + 1):
        total += term
        term *= square * (2 * k) / (2 * k + 1)
    return 2.0 / math.pi * (angle + sin * total)


def student_t_half_widths(errors: np.ndarray, level: int | str, profile: np.ndarray) -> np.ndarray:
    """Half widths from too few held-out windows for a conformal band at `level`: a Student-t
    prediction interval's form, t quantile (n - 1 degrees of freedom) times sqrt(1 + 1 / n) times
    the errors' root mean square, wider than needed where the errors have no bias (no mean is
    estimated), on purpose for a handful of overlapping windows. The root mean square is pooled
    over the steps, each step's errors divided by `profile` (how the spread grows with the step,
    e.g. the naive forecast's on the train split): n windows give n x horizon values, where one
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
    (`calibration_rows`)."""
    if len(actual) == 0:
        raise ValueError("calibrating bands needs at least one held-out window")
    scale = volatility_scale(inputs, min_relative_scale, span, drift_free)
    errors = np.abs(np.asarray(actual) - np.asarray(forecast)) / scale
    moved = above_floor(scale, inputs, min_relative_scale)
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


def naive_spread_profile(
    history: RollingOrigins,
    min_relative_scale: float,
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
) -> Bands:
    """The naive forecast with random-walk intervals: the history's h-step changes' sizes
    calibrated as a model's errors are, in the same volatility units as the model's bands
    (`span`, `drift_free`, `still_unit`: theirs)."""
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
    scale = volatility_scale(inputs, min_relative_scale, span, drift_free, still_unit)
    return apply_intervals(naive, scale, bounds)
