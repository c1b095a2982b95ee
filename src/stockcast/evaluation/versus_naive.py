"""The model judged against the naive forecast on the same windows: its forecasts within
float32's rounding of naive's taken as naive's, and the Diebold-Mariano test of the two."""

from __future__ import annotations

import numpy as np

from stockcast.forecasting.metrics import diebold_mariano

# How many float32 steps (at the value) apart an answer of naive's number may lie from it: a
# fallback's lies within half a step.
FLOAT32_STEPS = 1


def naive_within_rounding(forecast: np.ndarray, naive: np.ndarray) -> np.ndarray:
    """`forecast` with each value within float32's rounding of naive's taken as naive's: a
    model that fell back answers the last price through float32 (85.9586 as 85.95860291), and
    on a flat test span that error alone made its MASE infinitely worse than naive's 0. No
    wider: four eps of the level (eight steps) took a model's own forecasts near 1e6, whose
    moves span ten steps, as naive's, and scored other forecasts than it serves."""
    larger = np.maximum(np.abs(naive), np.abs(forecast)).astype(np.float32)
    rounding = FLOAT32_STEPS * np.spacing(larger).astype(np.float64)
    return np.where(np.abs(forecast - naive) <= rounding, naive, forecast)


def ratio_vs_naive(mase: float, naive_mase: float) -> float:
    """The model's MASE over naive's: 1 where both are 0 (a flat span the model repeated, as
    naive did, is a tie, not a loss); infinite where only naive's is 0 or naive's is undefined."""
    if naive_mase > 0:
        return mase / naive_mase
    return 1.0 if naive_mase == 0 and mase == 0 else float("inf")


def model_vs_naive_test(
    forecast: np.ndarray,
    naive: np.ndarray,
    actual: np.ndarray,
    window_scales: np.ndarray,
    times: np.ndarray | None = None,
) -> dict:
    """Diebold–Mariano statistic and p-value per horizon step: is "beats naive" more than luck?
    Errors are in each window's series units, as the MASE (one series: the same test); a
    panel's windows of one time (`times`, `window_times`) count as one observation.

    The network computes in float32: a forecast within its rounding of naive's is naive's (a
    model that fell back answers the last price to within about 1e-7 of it), which the test
    would otherwise read as a small, consistent and so "significant" difference."""
    forecast = naive_within_rounding(forecast, naive)
    model_errors = (forecast - actual) / window_scales[:, None]
    naive_errors = (naive - actual) / window_scales[:, None]
    tests = [
        diebold_mariano(model_errors[:, k], naive_errors[:, k], k + 1, times)
        for k in range(actual.shape[1])
    ]
    return {
        "statistic": [statistic for statistic, _ in tests],
        "p_value": [p_value for _, p_value in tests],
    }
