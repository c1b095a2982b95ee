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
from stockcast.evaluation.gate import why_not_refit
from stockcast.evaluation.reports import check_report_matches, read_report
from stockcast.orchestration.steps.table_step import table_step
from stockcast.registry.integrity import folder_contents, verified_copy
from stockcast.serving.metadata import read_model_metadata
from stockcast.training.evaluated_recipe import (
    check_same_data,
    check_same_split,
    evaluated_budget,
    evaluated_lr_drops,
    pinned_processes,
    pinned_warm_start,
    read_train_metrics,
)
from stockcast.training.refit import refit_where_it_helps
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
    metrics = read_train_metrics(metrics_path)
    output = Path(section.output_dir)
    reason = why_not_refit(cfg, report, metrics)
    if reason is not None:
        _clear(output)
        shutil.copytree(evaluated, output)
        log.info("registering the evaluated model as it is: %s", reason)
        return {"refit": False, "reason": reason, "model_hash": digest}

    optimizer_steps, batch_size = evaluated_budget(metrics, metrics_path)
    prepared = PreparedData.load(section.prepared_dir)
    check_same_data(prepared, metadata, section.prepared_dir, section.model_dir)
    check_same_split(prepared, metadata, section.prepared_dir, section.model_dir)
    _clear(output)
    pinned = pinned_processes(pinned_warm_start(cfg, metrics, metrics_path), metrics)
    outcome = refit_where_it_helps(
        pinned,
        prepared,
        evaluated,
        output,
        optimizer_steps,
        batch_size,
        evaluated_hash=digest,
        lr_drops=evaluated_lr_drops(metrics),
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


def _clear(output: Path) -> None:
    """The output folder emptied for this run's candidate (a failed removal is the error)."""
    if output.exists():
        shutil.rmtree(output)


main = hydra_task(run_refit)

if __name__ == "__main__":
    main()
