"""Evaluate step: model folder + prepared folder -> report folder (metrics, baselines, plots, gate)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.config.task import hydra_task
from stockcast.data.prepared import PreparedData
from stockcast.evaluation.evaluate import evaluate_model
from stockcast.evaluation.season_baseline import check_season_length
from stockcast.evaluation.unseen_test_windows import check_split_unseen, check_test_unseen
from stockcast.forecasting.windows import WindowSizes
from stockcast.orchestration.steps.table_step import table_step
from stockcast.serving.metadata import read_model_metadata
from stockcast.serving.model import open_model_dir
from stockcast.training.evaluated_recipe import check_same_data

log = logging.getLogger(__name__)


@table_step("evaluate")
def run_evaluate(cfg: DictConfig) -> dict[str, Any]:
    model_dir = Path(cfg.evaluate.model_dir)
    prepared = PreparedData.load(cfg.evaluate.prepared_dir)
    metadata = read_model_metadata(model_dir)
    check_test_unseen(metadata, model_dir)
    WindowSizes.of(metadata).require(
        prepared.window, f"model {model_dir}", "the prepared data has windows of"
    )
    # Another run's test split may hold the windows this model was selected on (its validation
    # split), and the report's data hash would be registered beside the model's dates.
    if metadata.get("data_hash"):
        check_same_data(
            prepared, metadata, cfg.evaluate.prepared_dir, model_dir, "evaluate.prepared_dir"
        )
    check_split_unseen(prepared, metadata, cfg.evaluate.prepared_dir, model_dir)
    check_season_length(cfg.evaluate.season_length, prepared)
    # The report names exactly the bytes that were loaded and scored.
    model = open_model_dir(model_dir)
    report = evaluate_model(cfg, prepared, model, Path(cfg.evaluate.output_dir))
    pooled = {name: m["pooled"]["mase"] for name, m in report["metrics"].items()}
    log.info(
        "test MASE over %d origins: %s; gate %s",
        report["n_windows"],
        ", ".join(f"{k} {v:.4f}" for k, v in pooled.items()),
        "passed" if report["gate"]["passed"] else f"refused ({report['gate']['reason']})",
    )
    return report


main = hydra_task(run_evaluate)

if __name__ == "__main__":
    main()
