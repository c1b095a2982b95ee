"""Train step: prepared folder -> MLflow model directory + checkpoints + metrics.json."""

from __future__ import annotations

import tempfile
from pathlib import Path

from omegaconf import DictConfig

from stockcast.config.compose import plain
from stockcast.config.task import hydra_task
from stockcast.data.prepared import PreparedData, check_prepared_settings
from stockcast.orchestration.preflight import check_training_builds
from stockcast.orchestration.steps.prepare import run_prepare
from stockcast.orchestration.steps.table_step import table_step
from stockcast.orchestration.sweeps.metric import optimized_value
from stockcast.training.distributed import is_launch_rank_zero
from stockcast.training.training_run import run_training


@table_step("train")
def run_train_step(cfg: DictConfig) -> float | None:
    prepared = PreparedData.load(cfg.train.prepared_dir)
    check_prepared_settings(plain(cfg.data), prepared.meta, cfg.train.prepared_dir)
    summary = run_training(cfg, prepared, cfg.train.output_dir, cfg.train.model_dir)
    return optimized_value(summary, cfg.get("optimized_metric"))


def run_train_task(cfg: DictConfig) -> float | None:
    """`python src/train.py`: prepare the data into the run directory, train, and return the
    value a sweeper optimises."""
    check_training_builds(cfg)
    output_dir = Path(cfg.paths.output_dir)
    if is_launch_rank_zero():
        prepared = PreparedData.load(run_prepare(cfg, output_dir / "prepared"))
    else:
        # Another DDP rank: the same data config gives the same data; the run dir is rank 0's.
        with tempfile.TemporaryDirectory(prefix="stockcast-rank-") as private:
            prepared = PreparedData.load(run_prepare(cfg, Path(private) / "prepared"))
    summary = run_training(cfg, prepared, output_dir, output_dir / "model")
    return optimized_value(summary, cfg.get("optimized_metric"))


main = hydra_task(run_train_step)

if __name__ == "__main__":
    main()
