"""The register step's verdict: the evaluation gate's thresholds, then the champion and the
candidate scored on the same test windows, never on windows the champion was fitted on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from stockcast.errors import ArtifactError, DamagedVersion
from stockcast.evaluation.reports import WINDOWS_FILE
from stockcast.evaluation.versus_naive import naive_within_rounding
from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.metrics import pooled_errors
from stockcast.forecasting.windows import WindowSizes
from stockcast.registry.freshness import LAST_DATE_TAG, later_data_end
from stockcast.registry.store import ModelRegistry, VersionInfo
from stockcast.registry.versions import HORIZON_TAG, PROMOTION_TAG, ROLLBACK_TAG, SETTLED
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


def last_champion_of_horizon(registry: ModelRegistry, horizon: int) -> VersionInfo | None:
    """The newest version forecasting `horizon` values that the gate promoted and no monitor
    rolled back: the champion of that horizon before a version of another took the alias."""
    for version in registry.versions():  # newest first
        tags = version.tags
        if (
            tags.get(HORIZON_TAG) == str(horizon)
            and tags.get(PROMOTION_TAG) == SETTLED
            and ROLLBACK_TAG not in tags
        ):
            return version
    return None


def data_ends_before(candidate: Candidate, champion: VersionInfo) -> str | None:
    """Why a candidate whose data ends before the champion's does not take its place (a run of
    an earlier day, with data.require_new_data=false), or None. Scored on its own test windows,
    which the champion's refit was fitted on, a champion of later data looks no better than
    the older model, and every later day would be judged against that older model."""
    ours = (candidate.report.get("model_metadata") or {}).get("data_last_date")
    theirs = later_data_end(ours, champion)
    if theirs is None:
        return None
    return (
        f"its data ends on {ours}, before champion version {champion.version}'s ({theirs}), so "
        "the champion stays: a run of an earlier day does not replace a model of later data"
    )


def refit_on_later_data(candidate: Candidate, champion: VersionInfo) -> bool:
    """Whether the candidate is a refit whose data ends after the champion's. Its evaluated
    model may forecast exactly as the champion's does (a day's value added no train window, so
    the same seed fitted the same weights), but the refit, which is what gets registered, was
    fitted on prices the champion never saw: it is no copy of the champion."""
    if evaluated_model_dir(candidate.model_dir) == candidate.model_dir:
        return False
    ours = (candidate.report.get("model_metadata") or {}).get("data_last_date")
    theirs = champion.tags.get(LAST_DATE_TAG)
    return bool(ours and theirs and str(ours) > theirs)


def decide(cfg: DictConfig, registry: ModelRegistry, candidate: Candidate) -> dict[str, Any]:
    """Apply the gate: the report's threshold verdict, then the champion comparison.

    `promote` says whether the new version takes the champion alias: only when there is no
    champion yet, or its data ends no earlier than the champion's and it was compared with the
    champion on the same windows and held up, or the champion cannot be its rival (its files
    were damaged). A champion forecasting
    another horizon (data.next_time_window changed) answers another question: the candidate is
    compared instead with the last champion of its own horizon, and takes the alias where it
    holds up against it (or that version's files are damaged) or there is none.
    `reasons` puts the one that decided first, the threshold verdict it followed last.
    """
    gate = candidate.report["gate"]
    decision: dict[str, Any] = {
        "passed": gate["passed"],
        "reasons": [gate["reason"]],
        "champion": None,
        "promote": False,
    }
    if not gate["passed"]:
        return decision
    champion = registry.champion(cfg.registry.champion_alias)
    if champion is None:
        decision["reasons"].insert(0, "no champion yet")
        decision["promote"] = True
        return decision
    older = data_ends_before(candidate, champion)
    if older is not None:
        decision["reasons"].insert(0, older)
        return decision
    if not cfg.gate.require_beat_champion:
        decision["reasons"].insert(
            0,
            f"not compared with champion version {champion.version} (gate.require_beat_champion"
            "=false), so the champion stays",
        )
        return decision
    compared = compare_with_champion(registry, champion, candidate)
    before = ""
    if compared.other_horizon is not None:
        horizon = compared.candidate_horizon
        rival = last_champion_of_horizon(registry, horizon)
        if rival is None:
            decision["promote"] = True
            decision["reasons"].insert(
                0,
                f"{compared.note} (data.next_time_window changed) and no version forecasting "
                f"{horizon} values was champion before, so the candidate takes its place",
            )
            return decision
        # A run of another horizon took the alias: the candidate answers to the champion of
        # its own, never to nobody.
        before = f"{compared.note}; compared with version {rival.version}, its last champion: "
        champion, compared = rival, compare_with_champion(registry, rival, candidate)
    champion_mase, mase = compared.champion_mase, compared.candidate_mase
    decision["champion"] = {
        "version": champion.version,
        "test_mase": champion_mase,
        "candidate_test_mase": mase,
        "windows": compared.windows,
    }
    label = f"champion version {champion.version}" if not before else f"version {champion.version}"
    if compared.damaged is not None:
        decision["promote"] = True
        reason = f"{label}'s files {compared.damaged_how} ({compared.damaged}), so the candidate "
        decision["reasons"].insert(0, f"{before}{reason}takes its place")
        return decision
    if champion_mase is None or mase is None:
        decision["reasons"].insert(0, f"{before}{compared.note}, so the champion stays")
        return decision
    if compared.same_forecasts and not refit_on_later_data(candidate, champion):
        decision["passed"] = False
        decision["reasons"].insert(
            0,
            f"{before}it forecasts exactly what {label} does on "
            f"{compared.note or 'the same test windows'}, so nothing new is registered",
        )
        return decision
    tolerance = float(cfg.gate.champion_tolerance)
    limit = champion_mase * (1.0 + tolerance)
    beats = mase <= limit
    decision["passed"] = decision["promote"] = bool(beats)
    if tolerance == 0:
        verdict = (
            f"{'is not worse than' if beats else 'is worse than'} {label}'s {champion_mase:.4f}"
        )
    else:  # the limit the candidate is held to, not a comparison the tolerance turns around
        verdict = (
            f"{'is at most' if beats else 'is above'} {limit:.4f} ({label}'s {champion_mase:.4f} "
            f"with gate.champion_tolerance={tolerance:g})"
        )
    decision["reasons"].insert(
        0,
        f"{before}test MASE {mase:.4f} {verdict} on {compared.note or 'the same test windows'}",
    )
    return decision


def refusal_reasons(decision: Mapping[str, Any]) -> str:
    """Why `decide` registered nothing, as one clause: the deciding reason, then the gate's
    verdict marked as passed where something after the gate refused (`... so nothing new is
    registered (the gate passed: test MASE 0.99 is below its max_mase 10)`), not read as one
    more reason against."""
    reasons = list(decision["reasons"])
    if len(reasons) < 2:  # the gate refused: its verdict is the reason
        return "; ".join(reasons)
    return f"{'; '.join(reasons[:-1])} (the gate passed: {reasons[-1]})"
