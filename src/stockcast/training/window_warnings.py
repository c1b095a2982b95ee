"""Warnings about the windows a fit's members read against the data's: said in the log as the
fit starts, since the fit still runs (a member modelling no season, a candidate reading less
than it asked for)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from stockcast.data.auto_window import AUTO, series_for_auto_window
from stockcast.forecasting.windows import WindowSizes
from stockcast.models.cores import seasonless_windows

log = logging.getLogger(__name__)


def warn_of_cut_candidate_windows(model_cfg: DictConfig, window: int) -> None:
    """Say where an ensemble's candidate asks for more values than the data's window holds: it
    reads the whole window instead, perhaps as another candidate already does."""
    for number, candidate in enumerate(model_cfg.get("candidates") or []):
        asked = candidate.get("window")
        if asked is not None and int(asked) > window:
            log.warning(
                "model.candidates.%d.window is %d, more than the %d values the data's window "
                "holds, so it reads all %d; set data.previous_time_window, or a smaller window",
                number,
                int(asked),
                window,
                window,
            )


def warn_of_seasonless_windows(
    core: Any,
    season: int,
    window: WindowSizes,
    data_cfg: Mapping[str, Any] | None = None,
    shortest_train: int | None = None,
) -> None:
    """Say where a seasonal kind's window is too short for the data's season, which it then
    leaves out of its model: the spec still records the data's season. What to do depends on
    whose window is short: the data's as set, or as `data.previous_time_window=auto` chose it
    for too short a series; else a candidate's own (`model.candidates.<n>.window`). Where the
    shortest series' train split (`shortest_train` values) cannot hold two seasons and the
    horizon, no window setting helps (the split check refuses it), so only a longer history is
    named."""
    windows = seasonless_windows(core, season)
    if not windows:
        return
    shortest = min(windows)
    seasons = 2 * season
    needed = seasons + window.next_time_window
    # The data's window first: a candidate's own window is capped at it, so only where it
    # holds two seasons can a candidate's be the one to lengthen.
    if window.previous_time_window >= seasons:
        advice = f"give that candidate (model.candidates.<n>.window) at least {seasons} values"
    elif shortest_train is not None and shortest_train < needed:
        advice = (
            f"a window of {seasons} needs a train split of {needed} values and the shortest "
            f"series' holds {shortest_train}, so only a longer history lets it model the season"
        )
    elif data_cfg is not None and str(data_cfg.get("previous_time_window")) == AUTO:
        needs = series_for_auto_window(seasons, window.next_time_window, data_cfg["split"])
        advice = (
            "data.previous_time_window=auto chooses two seasons once every series has at least "
            f"{needs} values, or set data.previous_time_window={seasons}"
        )
    else:
        advice = (
            f"give it a window of at least {seasons} (data.previous_time_window=auto chooses "
            "one where the data is long enough)"
        )
    log.warning(
        "the data's season is %d values, but a seasonal member reads %d, fewer than two "
        "seasons, so it models no season; %s",
        season,
        shortest,
        advice,
    )
