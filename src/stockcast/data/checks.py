"""Refuse series values that would train or forecast garbage, before any work is done.

Each check raises one `DataError` sentence naming where the problem is and the fix. The checks
see one series at a time (its dates when it has them, its positions otherwise), whatever source
it came from; a table file's own rows are checked as it is read (`table_layout.py`). `key` is
the config section the user sets (`data` when training, `input` when predicting).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stockcast.data.series import Series
from stockcast.data.table_layout import SHOWN
from stockcast.errors import DataError, first_few
from stockcast.forecasting.float_limits import LARGEST_VALUE, SMALLEST_VALUE

# A series' typical one-step move must span at least this many float32 steps at its level (a
# tenth of a move lost to rounding): fewer, and its windows are rounding noise.
MIN_MOVE_FLOAT32_STEPS = 10


def _places(item: Series, mask: np.ndarray) -> str:
    """Where in a series the mask is set: its dates when it has them, else 1-based points."""
    index = np.flatnonzero(mask)
    if item.dates is not None:
        dates = [np.datetime_as_string(item.dates[i], unit="D") for i in index]
        return f"on {first_few(dates, SHOWN)}"
    return f"at point(s) {first_few([int(i) + 1 for i in index], SHOWN)}"


def check_series_values(
    series: Sequence[Series], allow_non_positive: bool, key: str = "data"
) -> None:
    """Finite values, positive unless allowed, and small enough for the model's float32 maths."""
    for item in series:
        name = "the input" if key == "input" else f"series {item.series_id!r}"
        values = item.values
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(
                f"{name} has {int(bad.sum())} non-finite value(s) (inf or NaN) "
                f"{_places(item, bad)}; fix or drop them first."
            )
        non_positive = values <= 0
        if non_positive.any() and not allow_non_positive:
            raise DataError(
                f"{name} has {int(non_positive.sum())} value(s) at or below 0 "
                f"{_places(item, non_positive)} (first {values[non_positive][0]:g}); prices must "
                f"be positive: fix the data, or set {key}.allow_non_positive=true if these are "
                "not prices."
            )
        _check_float32_range(item, name)


def refuse_constant_data(series: Sequence[Series], read_from_a_file: bool) -> None:
    """Data in which no series ever moves: nothing to forecast, and no scale to measure errors
    in (the train split's own check would blame a flat start the data does not have)."""
    if any(len(item.values) and np.ptp(item.values) > 0 for item in series):
        return
    what = "the series" if len(series) == 1 else f"each of the {len(series)} series"
    check = (
        "check that data.value_column names the prices"
        if read_from_a_file
        else "check the data's settings (a market without volatility never moves)"
    )
    raise DataError(
        f"{what} holds one value throughout (first {series[0].values[0]:g}), so there is "
        f"nothing to forecast; {check}."
    )


def _check_float32_range(item: Series, name: str) -> None:
    """Values whose scaled statistics (a window's spread, the naive MAE) overflow or vanish in
    float32 would train a model that forecasts NaN: refuse them and say how to rescale."""
    values = item.values
    magnitude = np.abs(values)
    # The bounds forecasting's input guard holds every window to.
    too_large = magnitude > LARGEST_VALUE
    tiny = (magnitude < SMALLEST_VALUE) & (values != 0)
    if too_large.any():
        raise DataError(
            f"{name} has values up to {magnitude.max():.3g} {_places(item, too_large)}, too "
            "large for the model's float32 arithmetic (their scaled statistics overflow); "
            "rescale the data first, e.g. divide it by a power of 10."
        )
    if tiny.any():
        raise DataError(
            f"{name} has values as small as {magnitude[tiny].min():.3g} {_places(item, tiny)}, "
            "too small for the model's float32 arithmetic (their scaled statistics vanish); "
            "rescale the data first, e.g. multiply it by a power of 10."
        )


def refuse_moves_float32_cannot_hold(
    series_ids: Sequence[str], segments: Sequence[np.ndarray]
) -> None:
    """Refuse a series whose typical one-step move is a few float32 steps at its level (a value
    near 1e9 that moves by 1): windows, losses and scores are computed in float32, where its
    values round to multiples of 64, and it would score a perfect, meaningless 0."""
    for series_id, values in zip(series_ids, segments, strict=True):
        moves = np.abs(np.diff(values))
        moving = moves[moves > 0]
        if not len(moving):
            continue
        level = float(np.abs(values).max())
        step = float(np.spacing(np.float32(level)))
        typical = float(np.median(moving))
        if typical < MIN_MOVE_FLOAT32_STEPS * step:
            raise DataError(
                f"series {series_id!r} moves by about {typical:.3g} a step at a level of "
                f"{level:.3g}, where float32, which the model computes in, holds values only "
                f"{step:.3g} apart; subtract a constant level from it (or rescale it) so its "
                "moves show."
            )
