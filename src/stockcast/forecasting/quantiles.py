"""A quantile model's bands as it is served: its outputs put in order, those of a window that
did not move widened to their typical offsets, each pair q, 1 - q read as a band and widened by
its conformal correction. Apart from `intervals`, whose calibrated bounds every other model's
bands are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stockcast.forecasting.intervals import Bands, moved_windows, recorded_unit

# The decimals two quantiles are compared to: a band's partners q and 1 - q, a whole level.
QUANTILE_DIGITS = 6


def conformalized_bands(
    bands: Bands,
    point: np.ndarray,
    scale: np.ndarray,
    corrections: Mapping[str, Sequence[float]],
) -> Bands:
    """A quantile model's bands (`quantile_bands`), each level's widened on both sides by its
    calibrated correction per step (negative: narrowed) times each row's `scale` (conformalized
    quantile regression: `conformal.quantile_corrections`); a level without one keeps its own.
    Each band still holds the point and the band below it: a narrowed band stops at the point,
    and a wider level is widened to hold the one below where their corrections would cross."""
    point = np.asarray(point, dtype=np.float64)
    inner = (point, point)
    corrected: Bands = {}
    for level in sorted(bands, key=int):
        lower, upper = bands[level]
        shift = np.asarray(corrections.get(level, 0.0), dtype=np.float64) * scale
        lower = np.minimum(lower - shift, inner[0])
        upper = np.maximum(upper + shift, inner[1])
        corrected[level] = inner = (lower, upper)
    return corrected


def monotone_quantiles(outputs: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """A quantile model's outputs (n, quantiles, steps) sorted to rise with their quantiles at
    every row and step (rearrangement): separately trained outputs can cross, and a 90% band
    would then lie inside the 80% one. Where they do not cross, nothing changes."""
    order = np.argsort(np.asarray(quantiles, dtype=np.float64), kind="stable")
    monotone = np.array(outputs, dtype=np.float64, copy=True)
    monotone[:, order, :] = np.sort(monotone[:, order, :], axis=1)
    return monotone


def quantile_bands(outputs: np.ndarray, quantiles: Sequence[float]) -> Bands:
    """Bands from a quantile model's outputs (n, quantiles, steps): each pair q, 1 - q gives the
    (1 - 2q) level, e.g. 0.1 and 0.9 the 80% band."""
    bands = {}
    rounded = [round(q, QUANTILE_DIGITS) for q in quantiles]
    for i, q in enumerate(rounded):
        partner = round(1.0 - q, QUANTILE_DIGITS)
        if q < 0.5 and partner in rounded:
            level = str(round(100 * (1.0 - 2.0 * q)))
            bands[level] = (outputs[:, i, :], outputs[:, rounded.index(partner), :])
    return dict(sorted(bands.items(), key=lambda item: int(item[0])))


def quantile_offsets(
    outputs: np.ndarray,
    inputs: np.ndarray,
    point_index: int,
    min_relative_scale: float,
    span: int | None,
) -> list[list[float]] | None:
    """Each quantile's typical distance from the median (quantiles, steps), as a share of the
    last price, over the windows that moved: the least a window that did not move is given.
    None where none moved. Medians taken quantile by quantile keep the outputs' order."""
    inputs = np.asarray(inputs, dtype=np.float64)
    last = np.abs(inputs[:, -1])
    moved = moved_windows(inputs, min_relative_scale, span) & (last > 0)
    if not moved.any():
        return None
    shares = (outputs - outputs[:, point_index : point_index + 1, :]) / last[:, None, None]
    return np.median(shares[moved], axis=0).tolist()


def widen_still_quantiles(
    outputs: np.ndarray,
    inputs: np.ndarray,
    point_index: int,
    offsets: Sequence[Sequence[float]],
    min_relative_scale: float,
    span: int | None,
    zero_level: float | None = None,
    moves: np.ndarray | None = None,
) -> np.ndarray:
    """A quantile model's outputs (n, quantiles, steps) where each window that did not move has
    each quantile at least its typical distance from the median (`quantile_offsets`). Its
    network sees such a window at the scale floor (a hundredth of a percent of its price), so
    its own bands are that narrow; a window that did not move says nothing about how far its
    next value moves. Rows that moved, and the median, are unchanged; the order holds.

    The distances are shares of the last value: a window that stayed at 0 takes them of
    `zero_level` instead (`still_zero_level`; None: of 0, no width). `moves`: the windows'
    drift-free `window_moves` over `span`, where the caller has them already."""
    still = ~moved_windows(inputs, min_relative_scale, span, moves=moves)
    if not still.any():
        return outputs
    widened = np.array(outputs, dtype=np.float64, copy=True)
    median = widened[still, point_index : point_index + 1, :]
    last = np.abs(np.asarray(inputs, dtype=np.float64)[still, -1])
    if zero_level is not None:
        last = np.where(last == 0, float(zero_level), last)
    typical = np.asarray(offsets, dtype=np.float64)[None] * last[:, None, None]
    own = widened[still] - median
    # Each quantile's side of the median is its own output's (a typical offset of zero, which a
    # lower quantile may have, would otherwise pull it onto the median); at the median, the
    # typical offset's.
    below = np.where(own != 0, own < 0, typical < 0)
    farther = np.where(below, np.minimum(own, typical), np.maximum(own, typical))
    widened[still] = median + farther
    return widened


def served_quantiles(
    outputs: np.ndarray,
    prices: np.ndarray,
    quantiles: Sequence[float],
    point_index: int,
    intervals: Mapping[str, Any],
    moves: np.ndarray | None = None,
) -> np.ndarray:
    """A quantile model's outputs (n, quantiles, steps) as its bands are served from, and so
    calibrated on: rising with their quantiles (`monotone_quantiles`), each window that did not
    move widened to the typical offsets the spec's `intervals` record (`widen_still_quantiles`;
    `moves` as its)."""
    outputs = monotone_quantiles(outputs, quantiles)
    offsets = intervals.get("still_quantile_offsets")
    if offsets is None:
        return outputs
    return widen_still_quantiles(
        outputs,
        prices,
        point_index,
        offsets,
        float(intervals["min_relative_scale"]),
        recorded_unit(intervals)["span"],
        still_zero_level(intervals),
        moves,
    )


def still_zero_level(intervals: Mapping[str, Any]) -> float | None:
    """The level whose share `still_unit` is the typical move `still_move`: what a quantile
    model's typical offsets (shares of a last value) are taken of at a window that stayed at 0.
    None where the spec records neither (prices, or a model saved before)."""
    unit, move = intervals.get("still_unit"), intervals.get("still_move")
    if unit is None or move is None or not float(unit) > 0:
        return None
    return float(move) / float(unit)


def quantile_levels(quantiles: Sequence[float]) -> list[str]:
    """The band levels a quantile model's outputs give (`quantile_bands`' keys)."""
    return list(quantile_bands(np.zeros((0, len(quantiles), 1)), quantiles))
