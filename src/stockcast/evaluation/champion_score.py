"""The champion and the candidate scored on the same test windows, the candidate's own, never
on windows the champion was fitted on: the evidence the register step's verdict (`champion`)
weighs. Kept apart from that verdict because it is the part that loads a model and forecasts;
the verdict only reads its score."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.errors import ArtifactError, DamagedVersion
from stockcast.evaluation.reports import WINDOWS_FILE
from stockcast.evaluation.versus_naive import naive_within_rounding
from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.metrics import pooled_errors
from stockcast.forecasting.windows import WindowSizes
from stockcast.registry.store import ModelRegistry, VersionInfo
from stockcast.serving.metadata import evaluated_model_dir
from stockcast.serving.model import open_model_dir, open_version

# Forecasts this close (relative) count as the same: float32 round-off, not a different model.
SAME_FORECAST_RTOL = 1e-7


@dataclass(frozen=True)
class Candidate:
    """What the register step judges: a model folder, its evaluation report, a work folder."""

    model_dir: Path
    report_dir: Path
    report: dict[str, Any]
    workdir: Path


@dataclass(frozen=True)
class ChampionScore:
    """The champion's and the candidate's MASE on the windows both could be scored on fairly."""

    champion_mase: float | None
    candidate_mase: float | None
    windows: int
    note: str
    # The candidate forecasts exactly what the champion does on those windows (two models that
    # both fell back to the naive forecast): a new version would add nothing (unless it is a
    # refit on later data: `refit_on_later_data`).
    same_forecasts: bool = False
    # Which of the champion's files were changed or lost since it was registered, or cannot be
    # loaded as registered (`damaged_how` says which): no model is left to keep, so the
    # candidate takes its place. (A champion refused for another reason, a key or a package,
    # stays: a setting fixes that.)
    damaged: str | None = None
    damaged_how: str = DamagedVersion.how
    # The champion's horizon where it forecasts another number of values than the candidate
    # (`candidate_horizon`): `data.next_time_window` changed, and a champion answering another
    # question is no rival.
    other_horizon: int | None = None
    candidate_horizon: int | None = None


def unseen_windows(windows: Any, fit_data_end: str | None) -> np.ndarray:
    """Mask of the test windows whose targets all lie after the last date a model was fitted
    (or selected) on: the only windows it may be scored on. Undated data cannot be checked."""
    count = len(windows["actual"])
    if fit_data_end is None or "first_target_dates" not in windows:
        return np.ones(count, dtype=bool)
    return windows["first_target_dates"] > np.datetime64(fit_data_end)


def champion_inputs(
    windows: Mapping[str, np.ndarray], previous: int
) -> tuple[np.ndarray, np.ndarray]:
    """The `previous` values before each of the report's test windows, and which windows have
    that many: the most recent of their own inputs, or, for a champion that reads more, their
    longer past from the report's `history` (NaN rows where a series' history is too short)."""
    inputs = windows["inputs"]
    if previous <= inputs.shape[1]:
        return inputs[:, -previous:], np.ones(len(inputs), dtype=bool)
    targets, offsets = windows["history_targets"], windows["history_offsets"]
    starts = offsets[np.searchsorted(offsets, targets, side="right") - 1]
    enough = targets - starts >= previous
    longer = np.full((len(targets), previous), np.nan)
    longer[enough] = windows["history"][targets[enough, None] - previous + np.arange(previous)]
    return longer, enough


def compare_with_champion(
    registry: ModelRegistry, champion: VersionInfo, candidate: Candidate
) -> ChampionScore:
    """Champion vs candidate on the report's own test windows, never on windows the champion was
    fitted on. A refit champion is scored by the evaluated model inside it (`evaluated/`), which
    saw only its own train and validation data.

    The champion is loaded from a private copy verified against its registered hash."""
    try:
        loaded = open_version(
            registry, champion, candidate.workdir / f"champion_v{champion.version}"
        )
    except DamagedVersion as err:
        return ChampionScore(None, None, 0, "", damaged=err.detail, damaged_how=err.how)
    scored = loaded
    if evaluated_model_dir(loaded.folder) != loaded.folder:
        scored = open_model_dir(evaluated_model_dir(loaded.folder))
    meta = scored.metadata
    windows = dict(np.load(candidate.report_dir / WINDOWS_FILE))
    inputs, actual = windows["inputs"], windows["actual"]
    label = f"champion version {champion.version}"
    previous = scored.previous_time_window
    # A champion that reads more values than today's windows (a short new series shrank the
    # data-chosen window since it was trained) is fed from each window's longer past, where the
    # report stored it.
    if actual.shape[1] != scored.next_time_window:
        return ChampionScore(
            None,
            None,
            0,
            f"{label} forecasts {scored.next_time_window} values and the candidate "
            f"{actual.shape[1]}",
            other_horizon=scored.next_time_window,
            candidate_horizon=int(actual.shape[1]),
        )
    offered = inputs.shape[1]
    if "history_targets" in windows:
        offered = max(offered, previous)
    try:
        scored.sizes.require(
            WindowSizes(offered, actual.shape[1]),
            label,
            "the report's test data has windows of",
            "it cannot be scored on them",
            longer_inputs=True,
        )
    except ArtifactError as err:
        return ChampionScore(None, None, 0, str(err).rstrip("."))
    inputs, enough = champion_inputs(windows, previous)
    unseen = unseen_windows(windows, meta.get("fit_data_end"))
    if not unseen.any():
        return ChampionScore(
            None,
            None,
            0,
            f"{label} was fitted on data through {meta['fit_data_end']}, which covers every "
            "test window, so it cannot be scored fairly on them",
        )
    if not (unseen & enough).any():
        return ChampionScore(
            None,
            None,
            0,
            f"{label} reads {previous} values and no test window after its fitted data has "
            "that many before it, so it cannot be scored on them",
        )
    fair = unseen & enough
    where = [
        *([] if unseen.all() else ["after its fitted data"]),
        *([] if enough.all() else [f"that have the {previous} values it reads before them"]),
    ]
    champion_forecast, _ = scored.forecast(inputs[fair])
    # Scored as the candidate's saved forecasts were (`naive_within_rounding`).
    naive = naive_forecast(windows["inputs"][fair], actual.shape[1])
    champion_forecast = naive_within_rounding(champion_forecast, naive)
    # Each window in its series' units, as the report's MASE (a report from before the windows
    # kept their scales: the pooled one).
    scale = windows["scales"][fair] if "scales" in windows else candidate.report["mase_scale"]
    candidate_forecast = windows["forecast"][fair]
    return ChampionScore(
        pooled_errors(champion_forecast, actual[fair], scale)["mase"],
        pooled_errors(candidate_forecast, actual[fair], scale)["mase"],
        int(fair.sum()),
        f"the {int(fair.sum())} test windows {' '.join(where)}" if where else "",
        bool(np.allclose(candidate_forecast, champion_forecast, rtol=SAME_FORECAST_RTOL, atol=0)),
    )
