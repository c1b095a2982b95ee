"""What a fit decides on its validation windows, which its weights never trained on: how to weigh
its members and whether to fall back to the last price (how wide its bands are:
`training/calibration.py`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from stockcast.data.mase_scales import series_of_windows, series_scales
from stockcast.data.prepared import PreparedData
from stockcast.data.split import share_outside_range
from stockcast.data.split_recuts import join_splits
from stockcast.data.window_times import segment_values, window_times
from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.metrics import diebold_mariano, inverse_mse_weights
from stockcast.forecasting.windows import RollingOrigins
from stockcast.models.level_range import changed_windows, set_aside_mask
from stockcast.models.network import PriceForecaster
from stockcast.training.batched import forward_in_batches
from stockcast.training.folds import FoldEvidence

log = logging.getLogger(__name__)


def validation_forecasts(
    net: PriceForecaster,
    prepared: PreparedData,
    *,
    batch_size: int | None,
    members: bool = False,
    splits: Sequence[str] = ("val",),
    quantiles: bool = False,
) -> tuple[RollingOrigins, np.ndarray]:
    """Every validation window (rolling origins; of `splits` laid end to end, when given more)
    and the network's point forecast for it; with `members`, each member's, (members, windows,
    horizon); with `quantiles`, a quantile model's outputs (windows, horizon, quantiles).
    `batch_size` windows at a time (None: all at once): a panel's whole fitted span through
    every member at once can take gigabytes."""
    span = prepared.splits[splits[0]] if len(splits) == 1 else join_splits(prepared.splits, splits)
    windows = span.origins(prepared.window)
    net.eval()
    forward, axis = (net.member_forecasts, 1) if members else (net, 0)
    if quantiles:
        forward = net.quantile_forecast
    forecast = forward_in_batches(forward, windows.inputs, batch_size, windows_axis=axis)
    return windows, forecast


def held_out_forecasts(
    net: PriceForecaster,
    prepared: PreparedData,
    folds: FoldEvidence | None,
    *,
    batch_size: int | None,
    splits: Sequence[str] = ("val",),
    quantiles: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, point forecast, actual) of every window a fit judges itself on: the validation
    windows (`validation_forecasts`), then the rolling-origin folds' where there are any, their
    members combined as the network combines its own. With `quantiles`, a quantile model's
    outputs (windows, horizon, quantiles) in place of the point forecast."""
    windows, forecast = validation_forecasts(
        net, prepared, splits=splits, batch_size=batch_size, quantiles=quantiles
    )
    if folds is None:
        return windows.inputs, forecast, windows.actual
    weights = net.member_weights
    flat = None if weights is None else weights.flatten().double().numpy()
    combined = folds.combined_quantiles(flat) if quantiles else folds.combined(flat)
    return (
        np.concatenate([windows.inputs, folds.inputs]),
        np.concatenate([forecast, combined]),
        np.concatenate([windows.actual, folds.actual]),
    )


def fit_member_weights(
    cfg: DictConfig,
    net: PriceForecaster,
    prepared: PreparedData,
    names: list[str],
    folds: FoldEvidence | None = None,
) -> dict[str, Any] | None:
    """Weigh the members by their errors on the validation windows (`model.combination`), set
    the weights on `net` and return the spec's `combination`; None: `net` combines the members
    by their mean. `names` name the members in the spec's record of each one's weight and
    validation error (which kind and window won, for the ensemble).

    The members' mean treats a member that forecasts the held-out windows twice as badly as the
    others alike; inverse-MSE weights (Bates and Granger) let it count less without choosing
    one member on a few noisy windows. Each window's errors are in its series' units (over its
    train one-step naive MAE: `window_scales`), so no series of a panel counts for more because
    of its price level. Members that read the absolute level get no weight on a
    series that has left its train range (`level_members_record`), and the weights come from
    the windows every member serves (`windows_every_member_serves`). `folds`: the
    rolling-origin folds' member forecasts, weighed beside the validation windows."""
    net.set_member_weights(None)
    if net.core.members == 1:
        return None
    level = level_members_record(cfg, net, prepared)
    set_aside = np.asarray(net.level_reading_members()) & bool(level and level["set_aside"])
    if cfg.model.combination == "mean" and not set_aside.any():
        return None
    windows, member_forecasts = validation_forecasts(
        net, prepared, members=True, batch_size=int(cfg.data.eval_batch_size)
    )
    if len(windows) == 0:
        return None
    actual = windows.actual
    if folds is not None:
        actual = np.concatenate([actual, folds.actual])
        member_forecasts = np.concatenate([member_forecasts, folds.member_forecasts], axis=1)
    power = float(cfg.model.combination_power)
    # Errors in each window's series' own scale (one scale cancels for a single series).
    scale = window_scales(prepared, windows, folds)
    stepping_aside = held_out_set_aside(net, windows, folds)
    served = windows_every_member_serves(stepping_aside, set_aside, len(actual))
    member_forecasts, actual, scale = member_forecasts[:, served], actual[served], scale[served]
    if not np.isfinite(member_forecasts[~set_aside]).all():
        log.warning("a member's validation forecasts are not finite: the members are not weighted")
        return None
    scaled_forecasts, scaled_actual = member_forecasts / scale[:, None], actual / scale[:, None]
    weights = np.zeros(len(set_aside))
    if cfg.model.combination == "mean":
        weights[~set_aside] = 1.0 / (~set_aside).sum()
    else:
        kept = scaled_forecasts[~set_aside]
        weights[~set_aside] = inverse_mse_weights(kept, scaled_actual, power)
    net.set_member_weights(weights.tolist())
    if level:
        aside = None if stepping_aside is None else torch.from_numpy(stepping_aside)
        changed = changed_windows(torch.from_numpy(weights), aside)
        level["held_out_windows_outside_range"] = int(changed.sum())
        level["weighed_on_windows"] = int(served.sum())
    errors = ((member_forecasts - actual[None]) ** 2).reshape(len(weights), -1).mean(1)
    scaled = ((scaled_forecasts - scaled_actual[None]) ** 2).reshape(len(weights), -1).mean(1)
    return {
        "method": str(cfg.model.combination),
        "power": power,
        "weights": [float(w) for w in weights],
        "validation_windows": len(windows),
        # The folds' windows weighed beside them; each member's validation_mse is over the
        # windows of both that every member serves (level_members.weighed_on_windows).
        **({"fold_windows": len(folds)} if folds is not None else {}),
        **({"level_members": level} if level else {}),
        # The weights are powers of scaled_mse: each error over its series' train one-step
        # naive MAE, so each series of a panel counts in its own units.
        "errors_scaled_by": "each series' train one-step naive MAE",
        "members": [
            {"name": name, "weight": float(w), "validation_mse": float(e), "scaled_mse": float(c)}
            for name, w, e, c in zip(names, weights, errors, scaled, strict=True)
        ],
    }


def window_scales(
    prepared: PreparedData, windows: RollingOrigins, folds: FoldEvidence | None = None
) -> np.ndarray:
    """Each held-out window's series' train one-step naive MAE: the validation windows', then
    the folds'. Pooled in prices, a panel's highest-priced series would decide every member's
    weight; in each series' own units every series counts (a single series' weights are the
    same either way)."""
    scales = series_scales(prepared.splits["train"])
    found = scales[series_of_windows(prepared.splits["val"], windows.origins)]
    if folds is None:
        return found
    # A fold's windows lie inside the train split its scale was measured on: fine for weighing.
    return np.concatenate([found, scales[folds.series]])


def held_out_times(prepared: PreparedData, folds: FoldEvidence | None = None) -> np.ndarray | None:
    """When each held-out window's first target falls (`window_times`), in `held_out_forecasts`'
    order: the validation windows', then the folds'; None where the folds' are not known."""
    val = prepared.splits["val"]
    test = prepared.splits.get("test")
    after = None if test is None else segment_values(test)
    found = window_times(val, val.origins(prepared.window).origins, after)
    if folds is None:
        return found
    return None if folds.times is None else np.concatenate([found, folds.times])


def level_members_record(
    cfg: DictConfig, net: PriceForecaster, prepared: PreparedData
) -> dict[str, Any] | None:
    """Whether the members that read the level get no weight (`set_aside`), and why; None where
    the rule does not apply (`fit.level_members_max_outside` null, or no mix of members that
    read the level and members that do not).

    A member that reads the absolute level (an MLP scaled by train statistics or fed the level
    inputs) learned what the series does at the levels of its training windows. When most of
    the validation values lie outside the train split's range, the series trends away from
    those levels: such a member can score well just past the range and still extrapolate badly
    further out (README: trending series). The members that read only the window's shape carry
    the forecast instead. The network applies the same limit to each window it forecasts
    (`PriceForecaster.level_set_aside`): this rule judges the series once, on validation."""
    limit = OmegaConf.select(cfg, "fit.level_members_max_outside")
    reading = net.level_reading_members()
    if limit is None or all(reading) or not any(reading):
        return None
    share = share_outside_range(prepared.splits["train"], prepared.splits["val"])
    set_aside = share > float(limit)
    if set_aside:
        log.info(
            "%.0f%% of the validation values lie outside the train split's range, so the members "
            "that read the absolute level get no weight (fit.level_members_max_outside)",
            100 * share,
        )
    return {
        "validation_outside_train_range": share,
        "max_share": float(limit),
        "set_aside": set_aside,
    }


def held_out_set_aside(
    net: PriceForecaster, windows: RollingOrigins, folds: FoldEvidence | None = None
) -> np.ndarray | None:
    """(members, validation then fold windows): the members that stepped aside for each window
    outside its network's fitted range (`PriceForecaster.level_set_aside`); None: none did."""
    own = set_aside_mask(net, windows.inputs)
    if folds is not None:
        fold_part = folds.set_aside
        if fold_part is None:
            fold_part = np.zeros((net.core.members, len(folds)), dtype=bool)
        own = np.concatenate([own, fold_part], axis=1)
    return own if own.any() else None


def windows_every_member_serves(
    stepping_aside: np.ndarray | None, set_aside: np.ndarray, windows: int
) -> np.ndarray:
    """(windows,): the windows the members' weights are fitted on. Where the network sets
    members aside for a window (`stepping_aside`, members by windows), it serves the others
    there with their weights renormalised: a window counts only where every member weighed
    serves it, so that the level members' extrapolation past the range does not lower their
    weight where they are served. Every window, where the members `set_aside` for the whole
    series are the only ones a window sets aside, or where no window would be left."""
    if stepping_aside is None:
        return np.ones(windows, dtype=bool)
    served = ~stepping_aside[~set_aside].any(axis=0)
    return served if served.any() else np.ones_like(served)


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
