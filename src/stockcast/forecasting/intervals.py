"""Prediction bands as a served model applies them: calibrated bounds in units of each window's
recent volatility (a quantile model's own bands are `quantiles`').

Residuals are measured in units of each window's recent volatility (the mean absolute deviation
of its one-step changes from their mean over its last values: `band_scale_span`), so a band widens
when the prices it forecasts from moved irregularly, and a steady trend does not widen it. How the
bounds are calibrated is `conformal`'s, which a served model does not carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# {level: (lower, upper)}: prediction bands in price units, arrays shaped like the forecasts.
Bands = dict[str, tuple[np.ndarray, np.ndarray]]
# {level: [lower per step, upper per step]}: calibrated bounds in volatility units.
Bounds = dict[str, list[list[float]]]
# The fewest values a band's unit is measured over where the window holds them: two changes,
# as the drift-free unit measures each change from their mean (a single one is its own mean).
MIN_SCALE_VALUES = 3


def window_moves(
    inputs: np.ndarray, span: int | None = None, drift_free: bool = True
) -> np.ndarray:
    """Each input row's mean absolute one-step change over its last `span` values (None: all of
    it), measured from the changes' mean where `drift_free`, shape (n, 1): `volatility_scale`
    before its floor, for a caller that reads it twice (a served quantile model's still windows
    and its band unit) to measure once."""
    inputs = np.asarray(inputs, dtype=np.float64)
    if span is not None:
        inputs = inputs[:, -span:]
    changes = np.diff(inputs, axis=1)
    # A single change (a window of two values) has no mean to be measured from but itself.
    if drift_free and changes.shape[1] > 1:
        changes = changes - changes.mean(axis=1, keepdims=True)
    return np.abs(changes).mean(axis=1, keepdims=True)


def volatility_scale(
    inputs: np.ndarray,
    min_relative_scale: float,
    span: int | None = None,
    drift_free: bool = True,
    still_unit: float | None = None,
    still_move: float | None = None,
    moves: np.ndarray | None = None,
) -> np.ndarray:
    """Each input row's recent volatility, shape (n, 1): the mean absolute deviation of its
    one-step changes over its last `span` values (None: all of it) from their mean, so a steady
    trend adds nothing and the unit measures how irregular the moves are, not how large; with
    `drift_free=False`, the mean absolute change (the unit of models saved before). Floored
    relative to the last price so a flat window still gives a finite interval.

    A window that did not move (a halted or forward-filled ticker, a rate held for months, a
    perfectly steady line) says nothing about how far its next value moves: with `still_unit`
    (`typical_unit` of the train windows) its unit is that share of its last price instead of
    the floor, whose band would be a few hundredths of a percent wide. A window that stayed at
    0 (a store closed for a month, in data that may reach 0) has no level to take a share of:
    with `still_move` (`typical_move`, recorded for such data) it gets the train windows'
    typical move itself, where it had bands of no width.

    `moves`: `window_moves(inputs, span, drift_free)`, where the caller has it already."""
    if moves is None:
        moves = window_moves(inputs, span, drift_free)
    floor = scale_floor(inputs, min_relative_scale)
    if still_unit is not None or still_move is not None:
        last = np.abs(inputs[:, -1:])
        typical = np.maximum(float(still_unit or 0.0) * last, floor)
        if still_move is not None:
            typical = np.where(last == 0, np.maximum(float(still_move), floor), typical)
        return np.where(moves > floor, moves, typical)
    return np.maximum(moves, floor)


def typical_unit(
    inputs: np.ndarray, min_relative_scale: float, span: int | None = None
) -> float | None:
    """The median drift-free unit, as a share of the last price, of the windows that moved
    (`volatility_scale` above its floor): what a window that did not move is given. None when
    none moved (data that never moves has no typical move to give)."""
    inputs = np.asarray(inputs, dtype=np.float64)
    if len(inputs) == 0:
        return None
    scale = volatility_scale(inputs, min_relative_scale, span)
    last = np.abs(inputs[:, -1])
    moved = above_floor(scale, inputs, min_relative_scale) & (last > 0)
    if not moved.any():
        return None
    return float(np.median(scale[moved, 0] / last[moved]))


def typical_move(
    inputs: np.ndarray, min_relative_scale: float, span: int | None = None
) -> float | None:
    """The median drift-free unit, in the data's own units, of the windows that moved: what a
    window that stayed at 0 is given in data that may reach 0 (`volatility_scale`). None when
    none moved."""
    inputs = np.asarray(inputs, dtype=np.float64)
    if len(inputs) == 0:
        return None
    scale = volatility_scale(inputs, min_relative_scale, span)
    moved = above_floor(scale, inputs, min_relative_scale)
    return float(np.median(scale[moved, 0])) if moved.any() else None


def scale_floor(inputs: np.ndarray, min_relative_scale: float) -> np.ndarray:
    """The least each row's `volatility_scale` may be, (n, 1): a share of its last price, so a
    window that did not move still has a finite unit; float64's eps for a last price of 0. Not
    that eps beside the share: it outweighed the moves of prices near 1e-15, which the input
    guard accepts, and read every such window as still."""
    last = np.abs(np.asarray(inputs, dtype=np.float64)[:, -1:])
    relative = min_relative_scale * last
    return np.where(relative > 0, relative, np.finfo(np.float64).eps)


def above_floor(scale: np.ndarray, inputs: np.ndarray, min_relative_scale: float) -> np.ndarray:
    """Rows whose band unit (`scale`, (n, 1)) is above the floor: the windows that moved."""
    return scale[:, 0] > scale_floor(inputs, min_relative_scale)[:, 0]


def unit_record(
    span: int, still_unit: float | None = None, still_move: float | None = None
) -> dict[str, Any]:
    """What a spec's `intervals` records of its band unit: the span it is measured over, that it
    is the drift-free one, and (where the train windows gave them) the unit of a window that did
    not move, as a share of its last price and, for one at 0, in the data's units."""
    record: dict[str, Any] = {"scale_span": int(span), "scale_drift_free": True}
    if still_unit is not None:
        record["still_unit"] = float(still_unit)
    if still_move is not None:
        record["still_move"] = float(still_move)
    return record


def recorded_unit(intervals: Mapping[str, Any]) -> dict[str, Any]:
    """`volatility_scale`'s `span`, `drift_free`, `still_unit` and `still_move` as a spec's
    `intervals` record them: a model saved before the span was recorded measured its whole
    window, one saved before the drift-free unit its mean absolute change, and one saved before
    the still unit (or move) gave a window that did not move (or stayed at 0) the floor."""
    still, move = intervals.get("still_unit"), intervals.get("still_move")
    return {
        "span": intervals.get("scale_span"),
        "drift_free": bool(intervals.get("scale_drift_free", False)),
        "still_unit": None if still is None else float(still),
        "still_move": None if move is None else float(move),
    }


def band_scale_span(window: int, season: int, min_values: int) -> int:
    """How many of a window's most recent values a band's scale is measured over: the fewest whole
    seasons holding at least `min_values` (and `MIN_SCALE_VALUES`), at most the window. A fixed
    span, so the scale does not drift to a longer past when the data choose a longer window for
    the model; whole seasons, so a monthly series' scale does not swing with which months its
    last values fall in."""
    season = max(int(season), 1)
    needed = max(int(min_values), MIN_SCALE_VALUES)
    return max(2, min(int(window), -(-needed // season) * season))


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


def moved_windows(
    inputs: np.ndarray,
    min_relative_scale: float,
    span: int | None = None,
    drift_free: bool = True,
    moves: np.ndarray | None = None,
) -> np.ndarray:
    """Which windows moved: their band unit is above the floor. One that did not has only the
    floor as its unit, so its next move is thousands of units: in a spread it would stand for
    every window's, and more of them than a level's tail (5% at 95%) would set its
    split-conformal rank too. `moves`: as `volatility_scale`'s."""
    scale = volatility_scale(inputs, min_relative_scale, span, drift_free, moves=moves)
    return above_floor(scale, inputs, min_relative_scale)
