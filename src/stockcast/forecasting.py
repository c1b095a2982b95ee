"""The forecasting core: rolling-origin windows, baselines, errors per horizon step and pooled,
and the one check that a model's windows fit the data. NumPy only, so evaluation, prediction's
backtest, training metrics and monitoring all share it without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockcast.errors import ArtifactError


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
