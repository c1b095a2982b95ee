"""Refit step: model + prepared + train output + report -> the candidate to register
(`pipeline.refit`: the evaluated model fitted again on all its history; see
`stockcast.training.refit`), or the evaluated model as it is."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.config.task import hydra_task
from stockcast.data.prepared import PreparedData
from stockcast.errors import ArtifactError
from stockcast.evaluation.reports import check_report_matches, read_report
from stockcast.files import read_json_object
from stockcast.orchestration.steps.table import table_step
from stockcast.registry.integrity import folder_contents, verified_copy
from stockcast.serving.metadata import read_model_metadata
from stockcast.training.evaluated_recipe import (
    evaluated_budget,
    pinned_processes,
    pinned_warm_start,
)
from stockcast.training.refit import refit_where_it_helps, why_not_refit
from stockcast.training.summary import METRICS_FILE

log = logging.getLogger(__name__)


@table_step("refit")
def run_refit(cfg: DictConfig) -> dict[str, Any]:
    section = cfg.refit
    metadata = read_model_metadata(section.model_dir)
    report = read_report(section.report_dir)
    # Exactly the bytes evaluation scored, or the run stops here.
    evaluated, digest = verified_copy(section.model_dir)
    check_report_matches(report, section.report_dir, digest)
    metrics_path = Path(section.train_output_dir) / METRICS_FILE
    if not metrics_path.is_file():
        raise ArtifactError(
            f"{metrics_path} does not exist; point refit.train_output_dir at the train step's "
            "output folder."
        )
    metrics = read_json_object(metrics_path)
    if metrics is None:
        raise ArtifactError(
            f"{metrics_path} is not the JSON the train step writes (cut short or edited); run "
            "the train step again."
        )
    output = Path(section.output_dir)
    if any(folder.exists() and not folder.is_dir() for folder in (output, *output.parents)):
        raise ArtifactError(
            f"refit.output_dir {output} is a file or inside one; point it at a folder (the "
            "candidate's)."
        )
    reason = why_not_refit(cfg, report, metrics)
    if reason is not None:
        shutil.rmtree(output, ignore_errors=True)
        shutil.copytree(evaluated, output)
        log.info("registering the evaluated model as it is: %s", reason)
        return {"refit": False, "reason": reason, "model_hash": digest}

    optimizer_steps, batch_size = evaluated_budget(metrics, metrics_path)
    prepared = PreparedData.load(section.prepared_dir)
    if prepared.meta.get("data_hash") != metadata.get("data_hash"):
        # Every step runs alone from plain folders: another run's data would be refitted on
        # and registered under the evaluated model's data hash.
        raise ArtifactError(
            f"refit.prepared_dir {section.prepared_dir} holds other data than the model in "
            f"{section.model_dir} was trained on (data hash {prepared.meta.get('data_hash')}, not "
            f"{metadata.get('data_hash')}); point both at the same pipeline run."
        )
    shutil.rmtree(output, ignore_errors=True)
    pinned = pinned_processes(pinned_warm_start(cfg, metrics, metrics_path), metrics)
    outcome = refit_where_it_helps(
        pinned, prepared, evaluated, output, optimizer_steps, batch_size, evaluated_hash=digest
    )
    if not outcome["refit"]:
        log.info("registering the evaluated model as it is: %s", outcome["reason"])
        return outcome | {"model_hash": digest}
    log.info(
        "refit on all %d history windows for %d optimizer steps (batch %d) -> %s",
        outcome["training_windows"],
        outcome["optimizer_steps"],
        outcome["batch_size"],
        output,
    )
    return outcome | {"model_hash": folder_contents(output).digest}


main = hydra_task(run_refit)

if __name__ == "__main__":
    main()
