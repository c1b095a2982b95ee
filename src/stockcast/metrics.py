"""Forecast errors in price units, per horizon step and pooled. NumPy only: shared by training,
evaluation and benchmarks."""

from __future__ import annotations

import numpy as np

METRIC_NAMES = ("mae", "rmse", "mape", "mase")


def forecast_errors(
    forecast: np.ndarray, actual: np.ndarray, mase_scale: float
) -> dict[str, np.ndarray]:
    """MAE, RMSE, MAPE (%) and MASE for each horizon step: arrays of shape (horizon,).

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


def naive_forecast(inputs: np.ndarray, horizon: int) -> np.ndarray:
    """Last observed value repeated over the horizon."""
    return np.repeat(np.asarray(inputs)[:, -1:], horizon, axis=1)


def seasonal_naive_forecast(inputs: np.ndarray, horizon: int, season_length: int) -> np.ndarray:
    """The value one season before each target; needs season_length <= input window."""
    inputs = np.asarray(inputs)
    if not 1 <= season_length <= inputs.shape[1]:
        raise ValueError("season_length must be between 1 and the input window length")
    steps = np.arange(horizon)
    # Step h (0-based) repeats the value season_length - (h % season_length) steps back.
    columns = inputs.shape[1] - season_length + (steps % season_length)
    return inputs[:, columns]
