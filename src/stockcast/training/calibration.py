"""How wide a fit's bands are: calibrated on the held-out windows it judges itself on (the
validation windows, and a short validation split's rolling-origin folds), a quantile model's own
bands widened or narrowed on them too."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig

from stockcast.data.prepared import PreparedData
from stockcast.forecasting.conformal import (
    baseline_spread_profile,
    calibrate_intervals,
    calibration_methods,
    calibration_rows,
    conformal_inside_windows,
    quantile_corrections,
)
from stockcast.forecasting.guard import ALLOW_NON_POSITIVE
from stockcast.forecasting.intervals import (
    band_scale_span,
    moved_windows,
    typical_move,
    typical_unit,
    unit_record,
)
from stockcast.forecasting.quantiles import (
    monotone_quantiles,
    quantile_levels,
    quantile_offsets,
    served_quantiles,
)
from stockcast.models.network import PriceForecaster
from stockcast.training.batched import forward_in_batches
from stockcast.training.folds import FoldEvidence
from stockcast.training.validation import held_out_forecasts

log = logging.getLogger(__name__)


def band_unit(prepared: PreparedData, span: int) -> dict[str, Any]:
    """What a spec's `intervals` record of the band unit: its floor, the most recent values it
    is measured over, which unit, and the unit of a window that did not move (the train
    windows' typical one)."""
    min_relative_scale = float(prepared.scaler["min_relative_scale"])
    train = prepared.splits["train"].origins(prepared.window).inputs
    # Data that may reach 0 (trained with data.allow_non_positive=true, its zeros in train or
    # only later): a window that stayed there has no level to take a share of.
    source = getattr(prepared, "meta", {}).get("source", {})
    levelless = bool(source.get(ALLOW_NON_POSITIVE, False))
    return {
        "min_relative_scale": min_relative_scale,
        **unit_record(
            span,
            typical_unit(train, min_relative_scale, span),
            typical_move(train, min_relative_scale, span) if levelless else None,
        ),
    }


def still_quantile_offsets(
    net: PriceForecaster, prepared: PreparedData, span: int, batch_size: int
) -> list[list[float]] | None:
    """A quantile model's typical distance of each quantile from its median over the train
    windows that moved, as a share of the last price (`quantile_offsets`): what its served
    bands give a window that did not move, as `still_unit` does for conformal bands."""
    train = prepared.splits["train"].origins(prepared.window).inputs
    net.eval()
    outputs = forward_in_batches(net.quantile_forecast, train, batch_size)
    outputs = monotone_quantiles(outputs, net.quantiles)
    min_relative_scale = float(prepared.scaler["min_relative_scale"])
    return quantile_offsets(outputs, train, net.point_index, min_relative_scale, span)


def calibrate_on_validation(
    net: PriceForecaster,
    prepared: PreparedData,
    levels: list[int],
    span: int,
    *,
    batch_size: int | None,
    splits: Sequence[str] = ("val",),
    folds: FoldEvidence | None = None,
) -> dict[str, Any]:
    """Interval bounds from the validation windows (which the network was not trained on; only
    the members' combination weights were fitted there), in units of each window's recent
    volatility (over its last `span` values): split-conformal where the windows are enough for
    a level, Student-t bounds pooled over the steps where they are not, with the spread's
    growth over the steps taken from a baseline on the (longer) train split: the seasonal naive
    forecast on seasonal data, the naive one otherwise. Stored in
    the model's spec. `splits`: the windows to calibrate on, e.g. the whole fitted span for a
    model that repeats the last price, which is fitted on none of them; `batch_size` windows
    at a time; `folds`: the rolling-origin folds' windows, which calibrate the levels the
    validation windows alone are too few for (a split-conformal band's worth) beside them."""
    inputs, forecast, actual = held_out_forecasts(
        net, prepared, folds, batch_size=batch_size, splits=splits
    )
    count = len(actual)
    own = None if folds is None else count - len(folds)
    min_relative_scale = float(prepared.scaler["min_relative_scale"])
    moved = moved_windows(inputs, min_relative_scale, span)
    needed = {str(level): conformal_inside_windows(level) for level in levels}
    rows = {str(level): calibration_rows(moved, level, own) for level in levels}
    used = {level: int(mask.sum()) for level, mask in rows.items()}
    methods = calibration_methods(moved, levels, own)
    # Where not even the narrowest band has a conformal bound, every band rests on a handful of
    # windows (a t quantile of 12.7 at 95% from two): the user is told, not only the log file.
    few = "split_conformal" not in methods.values()
    for level, method in methods.items():
        if method != "split_conformal":
            log.log(
                logging.WARNING if few else logging.INFO,
                "%d calibration windows, fewer than the %d a split-conformal %s%% band needs: "
                "its bounds are Student-t bounds of their errors%s",
                used[level],
                needed[level],
                level,
                ", wide with so few (a longer history narrows them)" if few else "",
            )
    profile = baseline_spread_profile(
        prepared.splits["train"].origins(prepared.window),
        prepared.season_length,
        min_relative_scale,
        span,
    )
    unit = band_unit(prepared, span)
    folds_record = {}
    if folds is not None:
        folds_record = {
            "fold_windows": len(folds),
            # The levels whose bounds the folds' windows joined (the others: validation alone).
            "fold_levels": [level for level, mask in rows.items() if mask[own:].any()],
        }
    return {
        "method": "calibrated",
        # Per level: split_conformal, or student_t where the windows are too few for it.
        "methods": methods,
        "calibration_windows": count,
        # The splits whose windows gave the bounds, and how many came from the folds.
        "calibration_splits": list(splits),
        **folds_record,
        "windows_needed": needed,
        **unit,
        "bounds": calibrate_intervals(
            inputs,
            forecast,
            actual,
            levels,
            min_relative_scale,
            profile,
            span,
            own_windows=own,
            still_unit=unit.get("still_unit"),
            still_move=unit.get("still_move"),
        )
        if levels
        else {},
    }


def conformalize_on_validation(
    net: PriceForecaster,
    prepared: PreparedData,
    span: int,
    batch_size: int,
    folds: FoldEvidence | None = None,
    served: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a quantile model's `intervals` record of its bands' calibration: each level's
    conformalized-quantile-regression correction (`quantile_corrections`) from the windows
    the conformal bands are calibrated on (validation, and the rolling-origin `folds` where
    there are any). A pinball loss fitted on the train windows can leave bands too narrow on
    new ones (40 epochs on simulated random walks of 400 prices: 80% and 95% bands covered 0.77
    and 0.92 of test targets, 0.79 and 0.96 conformalized); a level whose windows are too few
    for a conformal rank keeps its own outputs, as logged. `served`: the `intervals` recorded
    so far (the band unit, the still offsets), so the scores are those of the bands as served:
    where no held-out window moved, in the floor's unit a price of 90 got an 80% band from -160
    to 340 at a window served in its own moves' unit."""
    inputs, outputs, actual = held_out_forecasts(
        net, prepared, folds, batch_size=batch_size, quantiles=True
    )
    # The validation windows come first, the folds' after them.
    own = None if folds is None else len(actual) - len(folds)
    min_relative_scale = float(prepared.scaler["min_relative_scale"])
    served = {"min_relative_scale": min_relative_scale, "scale_span": span, **(served or {})}
    outputs = served_quantiles(outputs, inputs, net.quantiles, net.point_index, served)
    levels = quantile_levels(net.quantiles)
    corrections = quantile_corrections(
        inputs,
        outputs,
        actual,
        net.quantiles,
        min_relative_scale,
        span,
        own,
        served.get("still_unit"),
        served.get("still_move"),
    )
    moved = moved_windows(inputs, min_relative_scale, span)
    for level in levels:
        if level not in corrections:
            log.info(
                "%d calibration windows, fewer than the %d a conformal %s%% band needs: it is "
                "the model's own quantiles, uncalibrated",
                int(calibration_rows(moved, level, own).sum()),
                conformal_inside_windows(level),
                level,
            )
    return {
        # Per level: cqr (its outputs widened or narrowed by `corrections`), or quantile (its
        # outputs as they are: too few windows).
        "methods": {level: "cqr" if level in corrections else "quantile" for level in levels},
        "calibration_windows": len(actual),
        "calibration_splits": ["val"],
        **({} if folds is None else {"fold_windows": len(folds)}),
        # Each level's widening per step on both sides, in units of each window's volatility.
        "corrections": corrections,
    }


def interval_spec(
    cfg: DictConfig,
    net: PriceForecaster,
    prepared: PreparedData,
    repeats_last: bool = False,
    folds: FoldEvidence | None = None,
) -> dict[str, Any]:
    """The spec's `intervals`: a quantile model's own bands conformalized on the held-out windows
    (`conformalize_on_validation`), or conformal bounds; either way the span of the volatility
    unit they are in (evaluate's naive bands use it too).

    A model that fell back to the last price (`repeats_last`) learned nothing from the train
    split, so its windows are held out as much as the validation split's: its bounds come from
    both, several times the evidence where the validation split is short; otherwise the
    rolling-origin `folds`' windows, where there are any, join the validation windows.

    A quantile model that fell back keeps no spread worth serving: a fit that diverged lost it
    with every weight (bands of no width), and one that did not beat the last price learned it
    around a median it no longer serves, checked on nothing (a learning rate of 1e8 gave a price
    of 14 an 80% upper bound of 60 million). Its quantile pairs' levels get conformal bounds as
    any fallback does."""
    span = band_scale_span(
        prepared.window.previous_time_window,
        prepared.season_length,
        int(cfg.model.interval_scale_values),
    )
    quantiles = [float(q) for q in cfg.model.quantiles]
    batch_size = int(cfg.data.eval_batch_size)
    if quantiles and not repeats_last:
        # Its corrections are in the unit, as evaluate's naive bands beside them are.
        unit = band_unit(prepared, span)
        offsets = still_quantile_offsets(net, prepared, span, batch_size)
        still = {} if offsets is None else {"still_quantile_offsets": offsets}
        calibrated = conformalize_on_validation(
            net, prepared, span, batch_size, folds, {**unit, **still}
        )
        return {"method": "quantile", "bounds": {}, **unit, **still, **calibrated}
    levels = quantile_levels(quantiles) if quantiles else cfg.model.interval_levels
    return calibrate_on_validation(
        net,
        prepared,
        [int(level) for level in levels],
        span,
        batch_size=batch_size,
        splits=("train", "val") if repeats_last else ("val",),
        folds=None if repeats_last else folds,
    )
