"""Train step: prepared folder -> MLflow model directory + checkpoints + metrics.json."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from stockcast.cli import timed_step, user_errors_exit
from stockcast.config import CONFIG_DIR
from stockcast.data.prepared import PreparedData
from stockcast.errors import ConfigError
from stockcast.files import write_json
from stockcast.provenance import git_commit
from stockcast.serving.metadata import MODEL_KIND, TRAINING_CONFIG_FILE
from stockcast.steps.common import flatten, log, plain, set_threads


def check_windows_match(cfg: DictConfig, prepared: PreparedData) -> None:
    """The model config and the prepared data must agree on window sizes."""
    asked = (int(cfg.model.input_size), int(cfg.model.horizon))
    have = (prepared.window.previous_time_window, prepared.window.next_time_window)
    if asked != have:
        raise ConfigError(
            f"the prepared data has windows {have[0]} in / {have[1]} out but the model config asks "
            f"for {asked[0]} / {asked[1]}; prepare the data with the same data.previous_time_window"
            " and data.next_time_window."
        )


def check_training_config(cfg: DictConfig) -> None:
    """Refuse model and batching settings that cannot train, before any data is prepared."""
    from stockcast.models.losses import LOSSES
    from stockcast.models.net import ACTIVATIONS

    model, data = cfg.model, cfg.data
    if model.activation not in ACTIVATIONS:
        raise ConfigError(
            f"model.activation {model.activation!r} is unknown; choose one of {list(ACTIVATIONS)}."
        )
    if model.loss not in LOSSES:
        raise ConfigError(f"model.loss {model.loss!r} is unknown; choose one of {list(LOSSES)}.")
    sizes = list(model.hidden_sizes)
    if not all(isinstance(h, int) and h > 0 for h in sizes):
        raise ConfigError(
            f"model.hidden_sizes={sizes} must list whole numbers above 0 ([] is a linear model)."
        )
    if not 0.0 <= float(model.dropout) < 1.0:
        raise ConfigError(f"model.dropout={model.dropout} must be in [0, 1).")
    for key in ("batch_size", "steps_per_batch", "eval_batch_size"):
        if not isinstance(data[key], int) or data[key] <= 0:
            raise ConfigError(f"data.{key}={data[key]!r} must be a whole number above 0.")
    if not isinstance(cfg.num_threads, int) or cfg.num_threads <= 0:
        raise ConfigError(f"num_threads={cfg.num_threads!r} must be a whole number above 0.")


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    if not group:
        return []
    return [hydra.utils.instantiate(node) for node in group.values() if "_target_" in node]


def run_training(
    cfg: DictConfig, prepared: PreparedData, output_dir: str | Path, model_dir: str | Path
) -> dict[str, Any]:
    """Fit, test the best checkpoint, export the model directory; returns metrics.json's content."""
    import lightning as L

    from stockcast.data.datamodule import WindowDataModule
    from stockcast.models.forecaster import Forecaster
    from stockcast.models.losses import make_loss
    from stockcast.models.net import build_price_forecaster, network_spec
    from stockcast.serving.export import save_model_dir

    # Lightning attaches its own console handler; route its records through Hydra's instead.
    logging.getLogger("lightning").handlers.clear()
    output_dir, model_dir = Path(output_dir), Path(model_dir)
    check_training_config(cfg)
    check_windows_match(cfg, prepared)
    set_threads(cfg.num_threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = WindowDataModule(
        prepared,
        batch_size=cfg.data.batch_size,
        steps_per_batch=cfg.data.steps_per_batch,
        eval_batch_size=cfg.data.eval_batch_size,
        seed=cfg.seed,
    )
    spec = network_spec(plain(cfg.model), prepared.scaler) | {"num_threads": int(cfg.num_threads)}
    model = Forecaster(
        net=build_price_forecaster(spec),
        loss=make_loss(cfg.model.loss, cfg.model.huber_delta),
        optimizer=hydra.utils.instantiate(cfg.optim.optimizer),
        scheduler=hydra.utils.instantiate(cfg.optim.scheduler) if cfg.optim.scheduler else None,
        scheduler_monitor=cfg.optim.monitor,
        mase_scale=prepared.mase_scale,
    )
    callbacks = _instantiate_all(cfg.get("callbacks"))
    loggers = _instantiate_all(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    hparams = flatten(plain(cfg)) | {"data_hash": prepared.meta["data_hash"]}
    for logger in loggers:
        logger.log_hyperparams(hparams)

    trainer.fit(model, datamodule=datamodule)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    ckpt_path = best or None
    metrics: dict[str, Any] = {
        "val": _stage_metrics(trainer.validate, model, datamodule, ckpt_path)
    }
    if cfg.get("test", True):
        metrics["test"] = _stage_metrics(trainer.test, model, datamodule, ckpt_path)

    run_id = next((lg.run_id for lg in loggers if hasattr(lg, "run_id")), None)
    metadata = {
        "kind": MODEL_KIND,
        "previous_time_window": prepared.window.previous_time_window,
        "next_time_window": prepared.window.next_time_window,
        "normalization": prepared.scaler["kind"],
        "data_hash": prepared.meta["data_hash"],
        "data_source": prepared.meta["source"],
        "has_dates": prepared.meta["has_dates"],
        "mase_scale": prepared.mase_scale,
        "training_run_id": run_id,
        "git_commit": git_commit(),
        "val_mase": metrics["val"].get("mase"),
    }
    last_inputs = prepared.splits["test"].values[-prepared.window.previous_time_window :]
    save_model_dir(model.net, spec, model_dir, metadata, last_inputs)
    # The full training config travels with the model, so the registry can show what made it.
    (model_dir / TRAINING_CONFIG_FILE).write_text(OmegaConf.to_yaml(cfg, resolve=True))
    summary = {
        **metrics,
        "best_checkpoint": best or None,
        "epochs": trainer.current_epoch,
        "training_run_id": run_id,
        "model_dir": str(model_dir),
    }
    write_json(output_dir / "metrics.json", summary)
    (output_dir / "config_resolved.yaml").write_text((model_dir / TRAINING_CONFIG_FILE).read_text())
    for logger in loggers:
        if hasattr(logger, "experiment") and run_id:
            logger.experiment.log_artifact(run_id, str(output_dir / "metrics.json"))
    log.info("model written to %s", model_dir)
    return summary


def _stage_metrics(run_stage: Any, model: Any, datamodule: Any, ckpt_path: str | None) -> dict:
    """Run validate/test on the given checkpoint and return its metrics without the stage prefix."""
    results = run_stage(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
    return {
        key.split("/", 1)[1]: float(value) for key, value in (results[0] if results else {}).items()
    }


def optimized_value(summary: dict[str, Any], metric: str | None) -> float | None:
    """The value a sweeper minimises: `val/mase` -> summary['val']['mase']."""
    if not metric:
        return None
    stage, _, name = metric.partition("/")
    value = summary.get(stage, {}).get(name)
    if value is None:
        raise ConfigError(
            f"optimized_metric {metric!r} was not computed; use one of "
            f"{[f'{s}/{k}' for s in ('val', 'test') for k in summary.get(s, {})]}."
        )
    return float(value) if math.isfinite(value) else float("inf")


def run_train_step(cfg: DictConfig) -> float | None:
    prepared = PreparedData.load(cfg.train.prepared_dir)
    summary = run_training(cfg, prepared, cfg.train.output_dir, cfg.train.model_dir)
    return optimized_value(summary, cfg.get("optimized_metric"))


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="pipeline")
@user_errors_exit
@timed_step
def main(cfg: DictConfig) -> float | None:
    return run_train_step(cfg)


if __name__ == "__main__":
    main()
