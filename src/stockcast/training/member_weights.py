"""Weighing a fit's members by their errors on the held-out windows (`model.combination`), and
setting aside the members that read the level where the series left its train range."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from stockcast.data.prepared import PreparedData
from stockcast.data.split import share_outside_range
from stockcast.forecasting.metrics import inverse_mse_weights
from stockcast.models.level_range import changed_windows
from stockcast.models.network import PriceForecaster
from stockcast.training.folds import FoldEvidence
from stockcast.training.validation import (
    held_out_set_aside,
    validation_forecasts,
    window_scales,
)

log = logging.getLogger(__name__)


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
