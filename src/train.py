"""Train one model: `python src/train.py experiment=mlp_w10`.

The train step run on its own: prepares the data into the run directory, trains, tests the best
checkpoint, and writes the MLflow model directory and metrics.json beside it.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from stockcast.cli import hydra_task


def train(cfg: DictConfig) -> float | None:
    from stockcast.data.prepared import PreparedData
    from stockcast.steps.prepare import run_prepare
    from stockcast.steps.train import optimized_value, run_training

    output_dir = Path(cfg.paths.output_dir)
    prepared = PreparedData.load(run_prepare(cfg, output_dir / "prepared"))
    summary = run_training(cfg, prepared, output_dir, output_dir / "model")
    return optimized_value(summary, cfg.get("optimized_metric"))


main = hydra_task(train, "train", timed=False)

if __name__ == "__main__":
    main()
