"""Register step: model folder + report -> a new registry version, only if the gate passes.

The gate is a decision, not a crash: a refusal exits 0 with one line saying why. Lookup, version
and champion alias happen under the store's write lock, so concurrent runs create one version per
model and each promotion is compared against the champion of that moment; a rerun after a crash
between the version and its alias completes the promotion.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from omegaconf import DictConfig

from stockcast.config.task import hydra_task
from stockcast.errors import ArtifactError
from stockcast.files import write_json
from stockcast.forecasting import check_window_sizes, pooled_errors, split_forecast_frame
from stockcast.orchestration.steps.evaluate import check_report_matches, read_report
from stockcast.orchestration.steps.table import DECISION_FILE, REPORT_FILE, WINDOWS_FILE
from stockcast.registry.freshness import data_tags
from stockcast.registry.integrity import folder_contents, verified_copy
from stockcast.registry.store import ModelRegistry, VersionInfo
from stockcast.serving.loading import load_verified_model
from stockcast.serving.metadata import (
    TRAINING_CONFIG_FILE,
    evaluated_model_dir,
    read_model_metadata,
)

# Forecasts this close (relative) count as the same: float32 round-off, not a different model.
log = logging.getLogger(__name__)


SAME_FORECAST_RTOL = 1e-7
# MLflow keeps tag values short; the full config travels with the model as a file.
MAX_TAG_LENGTH = 5000
CONFIG_TAG_KEYS = ("data", "model", "optim", "seed", "tags")


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
    # both fell back to the naive forecast): a new version would add nothing.
    same_forecasts: bool = False


def unseen_windows(windows: Any, fit_data_end: str | None) -> np.ndarray:
    """Mask of the test windows whose targets all lie after the last date a model was fitted
    (or selected) on: the only windows it may be scored on. Undated data cannot be checked."""
    count = len(windows["actual"])
    if fit_data_end is None or "first_target_dates" not in windows:
        return np.ones(count, dtype=bool)
    return windows["first_target_dates"] > np.datetime64(fit_data_end)


def compare_with_champion(
    registry: ModelRegistry, champion: VersionInfo, candidate: Candidate
) -> ChampionScore:
    """Champion vs candidate on the report's own test windows, never on windows the champion was
    fitted on. A refit champion is scored by the evaluated model inside it (`evaluated/`), which
    saw only its own train and validation data.

    The champion is loaded from a private copy verified against its registered hash."""
    loaded = registry.load(champion, candidate.workdir / f"champion_v{champion.version}")
    scored = loaded
    if evaluated_model_dir(loaded.folder) != loaded.folder:
        scored = load_verified_model(evaluated_model_dir(loaded.folder))
    meta = scored.metadata
    windows = dict(np.load(candidate.report_dir / WINDOWS_FILE))
    inputs, actual = windows["inputs"], windows["actual"]
    label = f"champion version {champion.version}"
    try:
        check_window_sizes(
            (meta["previous_time_window"], meta["next_time_window"]),
            (inputs.shape[1], actual.shape[1]),
            label,
            "the report's test data has windows of",
            "it cannot be scored on them",
        )
    except ArtifactError as err:
        return ChampionScore(None, None, 0, str(err).rstrip("."))
    unseen = unseen_windows(windows, meta.get("fit_data_end"))
    if not unseen.any():
        return ChampionScore(
            None,
            None,
            0,
            f"{label} was fitted on data through {meta['fit_data_end']}, which covers every "
            "test window, so it cannot be scored fairly on them",
        )
    champion_forecast, _ = split_forecast_frame(scored.pyfunc.predict(inputs[unseen]))
    scale = candidate.report["mase_scale"]
    candidate_forecast = windows["forecast"][unseen]
    return ChampionScore(
        pooled_errors(champion_forecast, actual[unseen], scale)["mase"],
        pooled_errors(candidate_forecast, actual[unseen], scale)["mase"],
        int(unseen.sum()),
        "" if unseen.all() else f"the {int(unseen.sum())} test windows after its fitted data",
        bool(np.allclose(candidate_forecast, champion_forecast, rtol=SAME_FORECAST_RTOL, atol=0)),
    )


def decide(cfg: DictConfig, registry: ModelRegistry, candidate: Candidate) -> dict[str, Any]:
    """Apply the gate: the report's threshold verdict, then the champion comparison.

    `promote` says whether the new version takes the champion alias: only when there is no
    champion yet, or when it was compared with the champion on the same windows and held up.
    """
    gate = candidate.report["gate"]
    decision = {
        "passed": gate["passed"],
        "reasons": [gate["reason"]],
        "champion": None,
        "promote": False,
    }
    if not gate["passed"]:
        return decision
    champion = registry.champion(cfg.register.alias)
    if champion is None:
        decision["reasons"].append("no champion yet")
        decision["promote"] = True
        return decision
    if not cfg.gate.require_beat_champion:
        decision["reasons"].append(
            f"not compared with champion version {champion.version} (gate.require_beat_champion"
            "=false), so the champion stays"
        )
        return decision
    compared = compare_with_champion(registry, champion, candidate)
    champion_mase, mase = compared.champion_mase, compared.candidate_mase
    decision["champion"] = {
        "version": champion.version,
        "test_mase": champion_mase,
        "candidate_test_mase": mase,
        "windows": compared.windows,
    }
    if champion_mase is None or mase is None:
        decision["reasons"].append(f"{compared.note}, so the champion stays")
        return decision
    if compared.same_forecasts:
        decision["passed"] = False
        decision["reasons"].append(
            f"it forecasts exactly what champion version {champion.version} does on "
            f"{compared.note or 'the same test windows'}, so nothing new is registered"
        )
        return decision
    limit = champion_mase * (1.0 + float(cfg.gate.champion_tolerance))
    beats = mase <= limit
    decision["passed"] = decision["promote"] = bool(beats)
    decision["reasons"].append(
        f"test MASE {mase:.4f} {'is not worse than' if beats else 'is worse than'} champion "
        f"version {champion.version}'s {champion_mase:.4f} on "
        f"{compared.note or 'the same test windows'}"
    )
    return decision


def version_tags(model_dir: Path, report: dict[str, Any]) -> dict[str, str]:
    metadata = report["model_metadata"]
    refit = evaluated_model_dir(model_dir) != model_dir
    config_path = model_dir / TRAINING_CONFIG_FILE
    config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    compact = json.dumps({k: config.get(k) for k in CONFIG_TAG_KEYS if k in config})
    pooled = {name: m["pooled"] for name, m in report["metrics"].items()}
    tags = {
        "training_run_id": metadata.get("training_run_id") or "",
        "refit": "true" if refit else "false",
        "scored_model_hash": report["model_hash"],
        **data_tags(metadata, report["data_hash"]),
        "git_commit": metadata.get("git_commit") or "unknown",
        "previous_time_window": metadata["previous_time_window"],
        "next_time_window": metadata["next_time_window"],
        "config": compact[:MAX_TAG_LENGTH],
        **{f"test_{k}": f"{v:.6g}" for k, v in pooled["model"].items()},
        **{
            f"{name}_test_mase": f"{p['mase']:.6g}" for name, p in pooled.items() if name != "model"
        },
    }
    return {key: str(value) for key, value in tags.items()}


def _register_new(cfg: DictConfig, registry: ModelRegistry, candidate: Candidate) -> dict[str, Any]:
    """Gate, then a new version and, if it won, the champion alias (inside `writing()`)."""
    decision = decide(cfg, registry, candidate)
    if not decision["passed"]:
        return {
            "registered": False,
            "version": None,
            "decision": decision,
            "message": "not registered: " + "; ".join(decision["reasons"]),
        }
    report_dir = candidate.report_dir
    extra = [report_dir / REPORT_FILE, *(report_dir / p for p in candidate.report["plots"])]
    tags = version_tags(candidate.model_dir, candidate.report)
    info, _ = registry.register(candidate.model_dir, tags, extra, promote=decision["promote"])
    role = ""
    if decision["promote"]:
        registry.promote(cfg.register.alias, info)
        role = f" as {cfg.register.alias}"
    return {
        "registered": True,
        "version": info.version,
        "decision": decision,
        "message": f"registered {registry.model_name} version {info.version}{role} "
        f"({'; '.join(decision['reasons'])})",
    }


def _already_registered(
    cfg: DictConfig, registry: ModelRegistry, existing: VersionInfo, candidate: Candidate
) -> dict[str, Any]:
    """The same model again: nothing new, unless a crashed run left its promotion pending, which
    is finished now against the champion of now (inside `writing()`)."""
    alias = cfg.register.alias
    held = f"{registry.model_name} version {existing.version} already holds this model"
    result: dict[str, Any] = {
        "registered": False,
        "version": existing.version,
        "already_registered": True,
        "message": f"{held}; nothing registered",
    }
    if not existing.promotion_pending:
        return result
    if alias in existing.aliases:
        registry.settle(existing)
        result["message"] = f"{held}; its interrupted promotion to {alias} had already happened"
        return result
    decision = decide(cfg, registry, candidate)
    result["decision"] = decision
    if decision["promote"]:
        registry.promote(alias, existing)
        outcome = "was completed"
    else:
        registry.settle(existing)
        outcome = "was declined"
    result["message"] = (
        f"{held}; its interrupted promotion to {alias} {outcome} ({'; '.join(decision['reasons'])})"
    )
    return result


def run_register(cfg: DictConfig) -> dict[str, Any]:
    model_dir, report_dir = Path(cfg.register.model_dir), Path(cfg.register.report_dir)
    read_model_metadata(model_dir)
    report = read_report(report_dir)
    # What gets registered is a private copy: exactly the bytes whose hash is checked here.
    copy, digest = verified_copy(model_dir)
    # A refit carries the evaluated model inside it: the report must name those bytes.
    scored = evaluated_model_dir(copy)
    scored_digest = digest if scored == copy else folder_contents(scored).digest
    check_report_matches(report, report_dir, scored_digest)
    registry = ModelRegistry.from_config(cfg.registry, create=True)
    output_dir = Path(cfg.paths.output_dir)
    candidate = Candidate(copy, report_dir, report, output_dir)
    with registry.writing():  # lookup, version and alias as one compare-and-set
        existing = registry.find_by_hash(digest)
        if existing is None:
            result = _register_new(cfg, registry, candidate)
        else:
            result = _already_registered(cfg, registry, existing, candidate)
    result |= {"model_name": registry.model_name, "tracking_uri": registry.tracking_uri}
    write_json(Path(cfg.register.output_dir) / DECISION_FILE, result)
    log.info(result["message"])
    return result


main = hydra_task(run_register)

if __name__ == "__main__":
    main()
