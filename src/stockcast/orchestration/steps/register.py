"""Register step: model folder + report -> a new registry version, only if the gate passes.

The gate is a decision, not a crash: a refusal exits 0 with one line saying why. Lookup, version
and champion alias happen under the store's write lock, so concurrent runs create one version per
model and each promotion is compared against the champion of that moment; a rerun after a crash
between the version and its alias completes the promotion.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from stockcast.config.task import hydra_task
from stockcast.evaluation.champion import decide, refusal_reasons
from stockcast.evaluation.champion_score import Candidate
from stockcast.evaluation.gate import report_gate
from stockcast.evaluation.reports import (
    REPORT_FILE,
    check_report_files,
    check_report_matches,
    read_report,
)
from stockcast.files import write_json
from stockcast.orchestration.steps.table import DECISION_FILE
from stockcast.orchestration.steps.table_step import table_step
from stockcast.paths import portable_path
from stockcast.redaction import redacted_uri
from stockcast.registry.freshness import AS_OF_TAG, data_tags
from stockcast.registry.integrity import folder_contents, verified_copy
from stockcast.registry.lock import sqlite_file
from stockcast.registry.repair import Held, sign_again, version_holding
from stockcast.registry.runs import label_tags
from stockcast.registry.signing import check_signing_keys
from stockcast.registry.store import ModelRegistry
from stockcast.registry.versions import ROLLBACK_TAG
from stockcast.serving.loading import check_refit_pair, check_refit_whole, load_checked_copy
from stockcast.serving.metadata import (
    EVALUATED_DIR,
    TRAINING_CONFIG_FILE,
    evaluated_model_dir,
    read_model_metadata,
)

log = logging.getLogger(__name__)

# MLflow keeps tag values short; the full config travels with the model as a file.
MAX_TAG_LENGTH = 5000
CONFIG_TAG_KEYS = ("data", "model", "optim", "seed", "tags")


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
        **(
            {"season_length": metadata["season_length"]}
            if metadata.get("season_length") is not None
            else {}
        ),
        "config": compact[:MAX_TAG_LENGTH],
        **metric_tags({f"test_{k}": v for k, v in pooled["model"].items()}),
        **metric_tags(
            {f"{name}_test_mase": p["mase"] for name, p in pooled.items() if name != "model"}
        ),
    }
    return {key: str(value) for key, value in tags.items()}


def metric_tags(metrics: dict[str, float | None]) -> dict[str, str]:
    """The report's metrics as tag values, leaving out those it holds as null: a score with no
    value (MAPE where every test target is 0, a rate held at zero through the test span) has no
    number to tag, and formatting it stopped the register step after the gate had passed."""
    return {name: f"{value:.6g}" for name, value in metrics.items() if value is not None}


def _register_new(cfg: DictConfig, registry: ModelRegistry, candidate: Candidate) -> dict[str, Any]:
    """Gate, then a new version and, if it won, the champion alias (inside `writing()`)."""
    decision = decide(cfg, registry, candidate)
    if not decision["passed"]:
        return {
            "registered": False,
            "version": None,
            "decision": decision,
            "message": "not registered: " + refusal_reasons(decision),
        }
    report_dir = candidate.report_dir
    extra = [report_dir / REPORT_FILE, *(report_dir / p for p in candidate.report["plots"])]
    tags = version_tags(candidate.model_dir, candidate.report)
    info, _ = registry.register(
        candidate.model_dir,
        tags,
        extra,
        promote=decision["promote"],
        run_tags=label_tags(cfg.get("tags")),
        day=tags.get(AS_OF_TAG),
    )
    role = ""
    if decision["promote"]:
        registry.promote(cfg.registry.champion_alias, info)
        role = f" as {cfg.registry.champion_alias}"
    return {
        "registered": True,
        "version": info.version,
        "decision": decision,
        "message": f"registered {registry.model_name} version {info.version}{role} "
        f"({'; '.join(decision['reasons'])})",
    }


def _already_registered(
    cfg: DictConfig, registry: ModelRegistry, found: Held, candidate: Candidate
) -> dict[str, Any]:
    """The same model again: nothing new, unless a crashed run left its promotion pending, which
    is finished now against the champion of now (inside `writing()`)."""
    alias, existing = cfg.registry.champion_alias, found.info
    held = f"{registry.model_name} version {existing.version} already holds this model"
    signed = sign_again(registry, found, candidate.model_dir)
    if signed is not None:
        held += f" ({signed})"
    result: dict[str, Any] = {
        "registered": False,
        "version": existing.version,
        "already_registered": True,
        "message": f"{held}; nothing registered",
    }
    if not existing.promotion_pending:
        return result
    holder = registry.champion(alias)
    if holder is not None and holder.version == existing.version:
        # Set again: where the store keeps aliases as tags, a crash may have left the
        # previous holder's; this takes it off, then settles.
        registry.promote(alias, existing)
        result["message"] = f"{held}; its interrupted promotion to {alias} had already happened"
        return result
    if ROLLBACK_TAG in existing.tags:
        # The monitor took the alias away from it since: judging it again would give it back.
        registry.decline(alias, existing)
        result["message"] = (
            f"{held}; its interrupted promotion to {alias} was declined (the monitor rolled it "
            f"back: {existing.tags[ROLLBACK_TAG]})"
        )
        return result
    decision = decide(cfg, registry, candidate)
    result["decision"] = decision
    if decision["promote"]:
        registry.promote(alias, existing)
        outcome = "was completed"
    else:
        registry.decline(alias, existing)
        outcome = "was declined"
    result["message"] = (
        f"{held}; its interrupted promotion to {alias} {outcome} ({'; '.join(decision['reasons'])})"
    )
    return result


@table_step("register")
def run_register(cfg: DictConfig) -> dict[str, Any]:
    model_dir, report_dir = Path(cfg.register.model_dir), Path(cfg.register.report_dir)
    read_model_metadata(model_dir)
    report = read_report(report_dir)
    check_report_files(report, report_dir)
    # The thresholds this step is given, judged on the report's scores: evaluate recorded its
    # verdict under the settings it ran with, which a step run alone may not share.
    report = report | {"gate": report_gate(report, cfg.gate)}
    # What gets registered is a private copy: exactly the bytes whose hash is checked here.
    copy, digest = verified_copy(model_dir)
    # A refit carries the evaluated model inside it: the report must name those bytes.
    scored = evaluated_model_dir(copy)
    if scored == copy:
        check_refit_whole(copy, model_dir)
    scored_digest = digest if scored == copy else folder_contents(scored).digest
    # A refit's own scores are not held out: its report is the evaluated model's.
    shown = (
        "this model folder"
        if scored == copy
        else f"the model it was refitted from, {model_dir / EVALUATED_DIR},"
    )
    check_report_matches(report, report_dir, scored_digest, shown)
    if scored != copy:
        check_refit_pair(copy, scored_digest, model_dir)
    # What predict and serve will load, loaded here once: a folder that does not load is not
    # signed, registered or promoted over a champion that does.
    load_checked_copy(copy, model_dir)
    registry = ModelRegistry.from_config(cfg.registry, create=True)
    check_signing_keys(registry.keys)
    output_dir = Path(cfg.paths.output_dir)
    candidate = Candidate(copy, report_dir, report, output_dir)
    with registry.writing():  # lookup, version and alias as one compare-and-set
        found = version_holding(registry, digest)
        if found is None:
            result = _register_new(cfg, registry, candidate)
        else:
            result = _already_registered(cfg, registry, found, candidate)
    # The store as seen from its own folder: decision.json travels with the run.
    store = sqlite_file(registry.tracking_uri)
    tracking_uri = portable_path(registry.tracking_uri, *([store.parent] if store else []))
    tracking_uri = redacted_uri(tracking_uri)
    # The hash of the candidate's folder (what its version holds, where one holds it), kept
    # outside the store: a folder swapped in later (another signed version's, with its tags)
    # does not match it.
    result |= {
        "model_name": registry.model_name,
        "tracking_uri": tracking_uri,
        "model_hash": digest,
    }
    write_json(Path(cfg.register.output_dir) / DECISION_FILE, result)
    log.info(result["message"])
    return result


main = hydra_task(run_register)

if __name__ == "__main__":
    main()
