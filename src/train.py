"""Train one model: `python src/train.py experiment=mlp_w10`.

The train step run on its own (`stockcast.orchestration.steps.train.run_train_task`): prepares
the data into the run directory, trains, tests the best checkpoint, and writes the MLflow model directory and
metrics.json beside it.
"""

from __future__ import annotations

from omegaconf import DictConfig

from stockcast.config.task import hydra_task


def train(cfg: DictConfig) -> float | None:
    # Imported here so `--help` and config errors answer before the training stack loads.
    from stockcast.orchestration.steps.train import run_train_task

    return run_train_task(cfg)


main = hydra_task(train, "train", timed=False)

if __name__ == "__main__":
    main()
