"""Evaluate step: model folder + prepared folder -> report folder (metrics, baselines, plots, gate)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.config.task import hydra_task
from stockcast.data.prepared import PreparedData
from stockcast.evaluation.evaluate import evaluate_model
from stockcast.forecasting.windows import WindowSizes
from stockcast.orchestration.steps.table import table_step
from stockcast.serving.metadata import read_model_metadata
from stockcast.serving.model import open_model_dir

log = logging.getLogger(__name__)


@table_step("evaluate")
def run_evaluate(cfg: DictConfig) -> dict[str, Any]:
    model_dir = Path(cfg.evaluate.model_dir)
    prepared = PreparedData.load(cfg.evaluate.prepared_dir)
    WindowSizes.of(read_model_metadata(model_dir)).require(
        prepared.window, f"model {model_dir}", "the prepared data has windows of"
    )
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
