"""More evidence for what a fit decides on a short validation split: rolling-origin folds.

A short series leaves its validation split a handful of windows, and on four or five windows a
model can beat the last price, or one member beat another, by luck. With `fit.folds` the same
configuration is also fitted on earlier cuts of the train split (`rolling_folds`: the evaluated
optimizer steps and batch size, as the refit does) and forecasts the span after each cut, which
it never trained on. Those forecasts join the validation windows wherever a fit decides on held-
out evidence: the members' weights, the naive fallback and the calibrated bands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import zip_longest
from typing import Any

import numpy as np
from omegaconf import DictConfig

from stockcast.data.mase_scales import series_of_windows
from stockcast.data.prepared import PreparedData
from stockcast.data.scaling import refit_scaler
from stockcast.data.split import SplitData
from stockcast.data.split_recuts import rolling_folds
from stockcast.data.window_times import segment_values, window_times
from stockcast.forecasting.baselines import naive_forecast
from stockcast.models.level_range import combine_member_forecasts, set_aside_mask
from stockcast.training.batched import forward_in_batches
from stockcast.training.beside import Beside, forks_safely
from stockcast.training.distributed import configured_world_size
from stockcast.training.evaluated_recipe import FitSchedule
from stockcast.training.fixed_steps import refit_network

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldEvidence:
    """The folds' windows and each member's forecast of them, in price units."""

    inputs: np.ndarray  # (windows, previous_time_window)
    actual: np.ndarray  # (windows, next_time_window)
    member_forecasts: np.ndarray  # (members, windows, next_time_window)
    folds: int
    series: np.ndarray  # (windows,): each window's series, in the train split's order
    # (members, windows): True where a member that reads the level stepped aside for a window
    # outside its fold's fitted range (`PriceForecaster.level_set_aside`; `fold_evidence` always
    # gives the array, all False where none did); None (evidence built by hand): none did.
    set_aside: np.ndarray | None = None
    # (windows,): when each window's first target falls (`window_times`); None (evidence built
    # by hand): not known, and the windows are tested as one series.
    times: np.ndarray | None = None
    # (members, windows, quantiles, next_time_window): a quantile model's every output, which
    # calibrate its bands; None: a model without quantiles.
    member_quantiles: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.actual)

    def combined(self, weights: Sequence[float] | np.ndarray | None) -> np.ndarray:
        """The members' forecasts combined as the network combines its own: `weights` (summing
        to 1) or, with None, their mean; without the members set aside for a window."""
        flat = None if weights is None else np.asarray(weights, dtype=np.float64)
        return combine_member_forecasts(self.member_forecasts, flat, self.set_aside)

    def combined_quantiles(self, weights: Sequence[float] | np.ndarray | None) -> np.ndarray:
        """A quantile model's every output (windows, quantiles, next_time_window), its members
        combined as `combined` combines their point forecasts."""
        if self.member_quantiles is None:
            raise ValueError("the folds hold no quantile outputs: their model has no quantiles")
        flat = None if weights is None else np.asarray(weights, dtype=np.float64)
        return combine_member_forecasts(self.member_quantiles, flat, self.set_aside)

    def record(self, weights: Sequence[float] | None, scales: np.ndarray) -> dict[str, Any]:
        """What metrics.json says of the folds: how many, their windows, and the MAE of the
        members combined with `weights` relative to the last price's on those windows, each
        window's errors over its series' `scales` entry (its train one-step naive MAE), as the
        fallback pools them with the validation windows' (below 1 beats it)."""
        naive = naive_forecast(self.inputs, self.actual.shape[1])
        own = np.asarray(scales, dtype=np.float64)[self.series][:, None]
        model_mae = (np.abs(self.combined(weights) - self.actual) / own).mean()
        naive_mae = (np.abs(naive - self.actual) / own).mean()
        return {
            "folds": self.folds,
            "windows": len(self),
            # None where the last price is exact on every fold window (a flat span).
            "mae_vs_naive": float(model_mae / naive_mae) if naive_mae > 0 else None,
        }


def fold_plan(
    cfg: DictConfig, prepared: PreparedData, warm: bool = False
) -> list[tuple[SplitData, SplitData]]:
    """The (train, scored) splits of each fold, or none: `fit.folds` is 0, the validation split
    holds `fit.folds_below_windows` windows or more, the fit runs on several processes or started
    from a registered model's weights (`warm`), or the train split is too short to cut."""
    folds = int(cfg.fit.get("folds") or 0)
    sizes = prepared.window
    val_windows = len(prepared.splits["val"].window_starts(sizes))
    if folds <= 0 or val_windows >= int(cfg.fit.folds_below_windows):
        return []
    if configured_world_size(cfg.trainer) > 1:
        log.info("rolling-origin folds are fitted on one process only: skipped (fit.folds)")
        return []
    if warm:
        # The weights it starts from were trained on the train split the folds cut: their
        # windows would score a fit on them, not one that never saw them.
        log.info("a warm start's weights have seen the folds' windows: folds skipped (fit.folds)")
        return []
    share = float(cfg.fit.fold_min_train_share)
    return rolling_folds(prepared.splits["train"], prepared.splits["val"], sizes, folds, share)


def fold_evidence(
    cfg: DictConfig, prepared: PreparedData, schedule: FitSchedule, warm: bool = False
) -> FoldEvidence | None:
    """Each fold's fit (`schedule`: the evaluated budget, batch and learning rates) and its member
    forecasts of the span after its cut; None where there are no folds (`fold_plan`). With
    `fit.folds_beside` (and where a fit forks safely) every second fold is fitted in a child
    process beside the others."""
    plan = fold_plan(cfg, prepared, warm)
    if not plan:
        return None

    # Fold j is scored j validation spans before the validation split's end (`rolling_folds`):
    # how many of each series' values follow its scored span, for its windows' undated times.
    val = segment_values(prepared.splits["val"])
    test = prepared.splits.get("test")
    later = 0 if test is None else segment_values(test)
    after = [number * val + later for number in range(1, len(plan) + 1)]

    def forecasts(numbers: range) -> list[tuple[np.ndarray, ...]]:
        return [fold_forecasts(cfg, prepared, plan[i], schedule, after[i]) for i in numbers]

    beside = (
        Beside(
            lambda: forecasts(range(1, len(plan), 2)), "a rolling-origin fold", "fit.folds_beside"
        )
        if len(plan) > 1 and cfg.fit.folds_beside and forks_safely(cfg)
        else None
    )
    try:
        if beside is None:
            found = forecasts(range(len(plan)))
        else:
            mine = forecasts(range(0, len(plan), 2))
            theirs = beside.result()
            # In fold order again: 1, 2, 3, ...
            found = [
                fold for pair in zip_longest(mine, theirs) for fold in pair if fold is not None
            ]
    finally:
        if beside is not None:
            beside.cancel()
    inputs, actual, members, series, set_aside, times, quantiles = zip(*found, strict=True)
    evidence = FoldEvidence(
        np.concatenate(inputs),
        np.concatenate(actual),
        np.concatenate(members, axis=1),
        len(plan),
        np.concatenate(series),
        np.concatenate(set_aside, axis=1),
        np.concatenate(times),
        None if quantiles[0] is None else np.concatenate(quantiles, axis=1),
    )
    log.info(
        "the validation split holds %d windows: %d rolling-origin folds of the train split add "
        "%d more to weigh the members, decide the fallback and calibrate the bands (fit.folds)",
        len(prepared.splits["val"].window_starts(prepared.window)),
        evidence.folds,
        len(evidence),
    )
    return evidence


def fold_forecasts(
    cfg: DictConfig,
    prepared: PreparedData,
    fold: tuple[SplitData, SplitData],
    schedule: FitSchedule,
    after: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """One fold fitted on its train part (`schedule`): (inputs, actual, member forecasts, each window's
    series, the members set aside for each window, each window's time, a quantile model's
    member outputs or None) of the windows of the span after it, as plain arrays (they may
    cross from a child process). `after`: how many of each series' values follow the span
    (`window_times`)."""
    fold_train, scored = fold
    # Scaled by its own train part's statistics: the train split's include the span it scores.
    fitted_on = replace(
        prepared,
        splits={**prepared.splits, "train": fold_train},
        scaler=refit_scaler(prepared.scaler, fold_train.values, fold_train.segments()),
    )
    net = refit_network(
        cfg, fitted_on, schedule.optimizer_steps, schedule.batch_size, schedule.lr_drops
    ).net
    windows = scored.origins(prepared.window)
    net.eval()
    batch_size = int(cfg.data.eval_batch_size)
    quantiles = None
    if net.quantiles:
        forward = net.member_quantile_forecasts
        quantiles = forward_in_batches(forward, windows.inputs, batch_size, windows_axis=1)
        members = quantiles[:, :, net.point_index, :]
    else:
        forward = net.member_forecasts
        members = forward_in_batches(forward, windows.inputs, batch_size, windows_axis=1)
    series = series_of_windows(scored, windows.origins)
    set_aside = set_aside_mask(net, windows.inputs)
    times = window_times(scored, windows.origins, after)
    return windows.inputs, windows.actual, members, series, set_aside, times, quantiles
