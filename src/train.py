"""Train one model: `python src/train.py experiment=mlp_w10`.

The train step run on its own: prepares the data into the run directory, trains, tests the best
checkpoint, and writes the MLflow model directory and metrics.json beside it.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from stockcast.cli import user_errors_exit
from stockcast.config import CONFIG_DIR
from stockcast.data.prepared import PreparedData
from stockcast.steps.prepare import run_prepare
from stockcast.steps.train import check_training_config, optimized_value, run_training


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
@user_errors_exit
def main(cfg: DictConfig) -> float | None:
    check_training_config(cfg)
    output_dir = Path(cfg.paths.output_dir)
    prepared = PreparedData.load(run_prepare(cfg, output_dir / "prepared"))
    summary = run_training(cfg, prepared, output_dir, output_dir / "model")
    return optimized_value(summary, cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
