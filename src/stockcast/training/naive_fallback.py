"""Whether a fit gives up its learning and repeats the last price: its validation forecasts are
not numbers, or they do not beat the naive forecast on the held-out windows (convincingly)."""

from __future__ import annotations

import math

import numpy as np
from omegaconf import DictConfig

from stockcast.data.prepared import PreparedData
from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.metrics import diebold_mariano
from stockcast.models.network import PriceForecaster
from stockcast.training.folds import FoldEvidence
from stockcast.training.validation import held_out_forecasts, held_out_times, window_scales


def diverged(val: dict[str, float]) -> bool:
    """Whether a fit's validation MASE is not a number (a learning rate far too large); a
    metric not computed at all is no sign of it."""
    return "mase" in val and not math.isfinite(val["mase"])


def falls_back_to_naive(
    cfg: DictConfig,
    net: PriceForecaster,
    val: dict[str, float],
    prepared: PreparedData,
    folds: FoldEvidence | None = None,
) -> bool:
    """Whether the anchored model should give up its learning and repeat the last price: when it
    does not beat the naive forecast on the validation windows by `fit.min_gain_over_naive`, or
    (with `fit.max_p_value_vs_naive`) not convincingly: a Diebold–Mariano test of its per-window
    errors against naive's must reject "no better" at that level. On a random walk a lucky
    validation score is noise, and noise is what a model would then add to every forecast.

    With `folds` (a short validation split) both are judged on the validation and the folds'
    windows together, the model's MAE against naive's on the same windows. On a panel every
    window's errors are in its series' units (`window_scales`), as the members' weights are:
    pooled in prices, the highest-priced series would decide for all."""
    if not (cfg.fit.naive_fallback and net.anchored) or "naive_mase" not in val:
        return False
    keep = 1.0 - float(cfg.fit.min_gain_over_naive)
    max_p_value = cfg.fit.get("max_p_value_vs_naive")
    # One series without folds: the validation metrics say it. Otherwise each window counts.
    per_window = folds is not None or len(prepared.splits["train"].series_ids) > 1
    if diverged(val):
        return True  # its forecasts are no forecasts at all
    if not per_window and val["mase"] > val["naive_mase"] * keep:
        return True
    if not per_window and max_p_value is None:
        return False
    inputs, forecast, actual = held_out_forecasts(
        net, prepared, folds, batch_size=int(cfg.data.eval_batch_size)
    )
    horizon = actual.shape[1]
    scale = window_scales(prepared, prepared.splits["val"].origins(prepared.window), folds)
    model_error = np.abs(forecast - actual).mean(axis=1) / scale
    naive_error = np.abs(naive_forecast(inputs, horizon) - actual).mean(axis=1) / scale
    if per_window and model_error.mean() > naive_error.mean() * keep:
        return True
    if max_p_value is None:
        return False
    times = held_out_times(prepared, folds)
    statistic, p_value = diebold_mariano(model_error, naive_error, horizon, times)
    one_sided = p_value / 2.0 if statistic < 0 else 1.0 - p_value / 2.0
    return not (np.isfinite(one_sided) and one_sided <= float(max_p_value))
