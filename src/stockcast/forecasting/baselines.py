"""The forecasts a model must beat: the last value repeated, and the value one season back."""

from __future__ import annotations

import numpy as np


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


def seasonal_naive_from_history(
    history: np.ndarray,
    first_targets: np.ndarray,
    series_starts: np.ndarray,
    next_time_window: int,
    season_length: int,
) -> np.ndarray | None:
    """The value one season before each target, read from its series' whole past (`history`,
    the series laid end to end; `first_targets`: where each window's first target lies in it;
    `series_starts`: where its series begins): a season longer than the input window too.
    None where a window has less than a season of its series before its first target."""
    steps = np.arange(next_time_window)
    back = season_length * (steps // season_length + 1)
    index = np.asarray(first_targets)[:, None] + steps[None] - back[None]
    if len(index) == 0 or (index < np.asarray(series_starts)[:, None]).any():
        return None
    return np.asarray(history, dtype=np.float64)[index]
