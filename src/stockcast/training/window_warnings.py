"""Warnings about the windows a fit's members read against the data's: said in the log as the
fit starts, since the fit still runs (a member modelling no season, a candidate reading less
than it asked for)."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig

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


def warn_of_seasonless_windows(core: Any, season: int) -> None:
    """Say where a seasonal kind's window is too short for the data's season, which it then
    leaves out of its model: the spec still records the data's season."""
    windows = seasonless_windows(core, season)
    if windows:
        log.warning(
            "the data's season is %d values, but a seasonal member reads %d, fewer than two "
            "seasons, so it models no season; give it a window of at least %d "
            "(data.previous_time_window=auto chooses one where the data is long enough)",
            season,
            min(windows),
            2 * season,
        )
