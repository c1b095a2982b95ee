"""The one output guard every forecast passes (predict, serve, evaluate): what of a model's
answer is returned. A price model never answers a negative price, and a forecast far outside its
window's range is refused, not returned, in one sentence naming the row and step."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stockcast.errors import ForecastRefused
from stockcast.forecasting.guard import first_flagged
from stockcast.forecasting.intervals import Bands

# How the output guard's key is named in the predict and serve configs.
RANGE_KEY = "guard.max_range_multiple"


def guarded_forecast(
    windows: np.ndarray,
    point: np.ndarray,
    bands: Bands,
    allow_non_positive: bool,
    max_range_multiple: float | None,
    typical_move: float | None = None,
    row_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, Bands]:
    """The model's answer, refused when absurd, floored at zero for a price model.

    Refused: a point forecast farther outside its window's range [low, high] than
    `max_range_multiple` times that range, or than the window's mean level when the range is
    smaller than that (a flat window has no range, yet may move; a window of zeros has neither,
    and is judged by `typical_move`, the model's train one-step naive MAE, or not at all where
    the model does not record it). Such a number is not a
    forecast of this window but the model extrapolating from a series unlike its training
    data (alternating 1e-6 and 1e6 forecast -46 million), so no band around it means anything.
    None skips the check (evaluation scores what the model does).

    Floored: a price model (`allow_non_positive` false) answers no negative point or band edge.
    Flooring at 0 rather than refitting in log space keeps every model kind and the bands as
    they were fitted and changes only what is impossible: a price cannot fall below zero, and a
    band edge at 0 says exactly what a negative one meant, that the price could fall that far.
    """
    if max_range_multiple is not None:
        check_range(windows, point, float(max_range_multiple), typical_move, row_names)
    if allow_non_positive:
        return point, bands
    floored = {
        level: (np.maximum(lo, 0.0), np.maximum(up, 0.0)) for level, (lo, up) in bands.items()
    }
    return np.maximum(point, 0.0), floored


def series_names(series_ids: Sequence[str]) -> list[str]:
    """How a refusal names each row of a batch of series: `series 'AAA'`."""
    return [f"series {series_id!r}" for series_id in series_ids]


def check_range(
    windows: np.ndarray,
    point: np.ndarray,
    multiple: float,
    typical_move: float | None,
    row_names: Sequence[str] | None = None,
) -> None:
    """Refuse the forecast where `guarded_forecast` would (the range check alone), naming the
    first row refused by `row_names` (`series 'AAA'`, `the window ending 2025-01-28`; else its
    number) and counting the others."""
    outside = _outside_range(windows, point, multiple, typical_move)
    if outside.any():
        row, step, _ = first_flagged(outside)
        _, _, more = first_flagged(outside[row : row + 1])
        others = int(outside.any(axis=1).sum()) - 1
        if row_names is not None:
            which = f" for {row_names[row]}"
        else:
            which = "" if len(point) == 1 else f" for row {row + 1}"
        if others:
            which += f" (and {others} other{'s' if others > 1 else ''} refused too)"
        raise ForecastRefused(_range_refusal(windows, point, multiple, row, step, more, which))


def range_refusals(
    windows: np.ndarray,
    point: np.ndarray,
    multiple: float,
    typical_move: float | None,
    row_names: Sequence[str],
) -> dict[int, str]:
    """Every row the output guard would refuse (`guarded_forecast`), with the sentence it
    would refuse that row in alone (named by `row_names`): for a batch that leaves such series
    out."""
    outside = _outside_range(windows, point, multiple, typical_move)
    refusals = {}
    for row in np.flatnonzero(outside.any(axis=1)):
        _, step, more = first_flagged(outside[row : row + 1])
        which = f" for {row_names[row]}"
        refusals[int(row)] = _range_refusal(windows, point, multiple, row, step, more, which)
    return refusals


def _outside_range(
    windows: np.ndarray, point: np.ndarray, multiple: float, typical_move: float | None
) -> np.ndarray:
    """(rows, steps): which point forecasts lie farther outside their window's range than
    `multiple` allows."""
    low = windows.min(axis=1, keepdims=True)
    high = windows.max(axis=1, keepdims=True)
    room = np.maximum(multiple * (high - low), np.abs(windows).mean(axis=1, keepdims=True))
    # A window of zeros (a model trained with data.allow_non_positive) has neither a range nor a
    # level to judge a forecast by (even float32 round-off would lie "far" outside it): the
    # model's typical one-step move stands in.
    if typical_move is not None:
        room = np.where(room > 0, room, multiple * float(typical_move))
    return ((point < low - room) | (point > high + room)) & (room > 0)


def _range_refusal(
    windows: np.ndarray,
    point: np.ndarray,
    multiple: float,
    row: int,
    step: int,
    more: str,
    which: str,
) -> str:
    low, high = windows[row].min(), windows[row].max()
    return (
        f"the model's forecast{which} is {point[row, step]:.6g} at step {step + 1}{more}, far "
        f"outside the window's range {low:.6g} to {high:.6g} (beyond what "
        f"{RANGE_KEY}={multiple:g} allows); the window is probably not a price series of the "
        "kind the model was trained on, so check it."
    )
