"""The register step's verdict: the evaluation gate's thresholds, then the champion's score
against the candidate's (`champion_score`), the rival a champion of another horizon leaves, and
the candidate's data against the champion's; why a version is promoted or nothing registered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from stockcast.evaluation.champion_score import Candidate, compare_with_champion
from stockcast.registry.freshness import LAST_DATE_TAG, later_data_end
from stockcast.registry.store import ModelRegistry, VersionInfo
from stockcast.registry.versions import HORIZON_TAG, PROMOTION_TAG, ROLLBACK_TAG, SETTLED
from stockcast.serving.metadata import evaluated_model_dir


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
