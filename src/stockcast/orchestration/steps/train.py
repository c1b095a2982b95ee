"""Train step: prepared folder -> MLflow model directory + checkpoints + metrics.json."""

from __future__ import annotations

import copy
import functools
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from stockcast.config.compose import flatten, plain
from stockcast.config.task import hydra_task
from stockcast.data.calendar import date_bound
from stockcast.data.prepared import PreparedData
from stockcast.errors import ConfigError
from stockcast.files import write_json
from stockcast.orchestration.steps.table import METRICS_FILE, RESOLVED_CONFIG_FILE
from stockcast.paths import portable
from stockcast.registry.runs import close_orphaned_training_runs
from stockcast.serving.metadata import MODEL_KIND, TRAINING_CONFIG_FILE
from stockcast.training.distributed import (
    checkpoint_on_every_rank,
    configured_world_size,
    is_launch_rank_zero,
)
from stockcast.training.provenance import git_commit
from stockcast.training.resume import check_checkpoint_fits, read_checkpoint, resume_checkpoint
from stockcast.training.runtime import set_threads, trainer_refusals
from stockcast.training.summary import training_summary

log = logging.getLogger(__name__)


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    if not group:
        return []
    return [hydra.utils.instantiate(node) for node in group.values() if "_target_" in node]


def fitted_batch_size(cfg: DictConfig, prepared: PreparedData) -> int:
    """`data.batch_size`, shrunk so an epoch holds at least `fit.min_batches_per_epoch` optimizer
    steps: a short series then gets many small steps instead of one large one per epoch (under
    DDP, each rank's shard of the windows)."""
    windows = len(prepared.splits["train"].window_starts(prepared.window))
    windows //= configured_world_size(cfg.trainer)
    return max(1, min(int(cfg.data.batch_size), windows // int(cfg.fit.min_batches_per_epoch)))


def validation_schedule(cfg: DictConfig, datamodule: Any) -> dict[str, int]:
    """Trainer settings that validate about every `fit.val_every_steps` optimizer steps whatever
    the epoch length (early stopping patience counts validations): every few epochs when epochs
    are short; inside the epoch (`val_check_interval`, in Lightning batches of
    `data.steps_per_batch` steps) when one epoch holds more steps than that, as on a large panel
    where the whole budget may be a fraction of an epoch."""
    windows = len(datamodule.prepared.splits["train"].window_starts(datamodule.prepared.window))
    windows //= configured_world_size(cfg.trainer)
    steps_per_epoch = max(1, -(-windows // datamodule.batch_size))
    every_steps = int(cfg.fit.val_every_steps)
    if steps_per_epoch > every_steps:
        batches_per_epoch = -(-steps_per_epoch // int(datamodule.steps_per_batch))
        interval = max(1, round(every_steps / int(datamodule.steps_per_batch)))
        return {
            "check_val_every_n_epoch": 1,
            "val_check_interval": min(interval, batches_per_epoch),
        }
    every = max(1, round(every_steps / steps_per_epoch))
    # A run shorter than one validation interval still validates (and checkpoints) at its end.
    max_epochs = cfg.trainer.get("max_epochs")
    return {
        "check_val_every_n_epoch": min(every, int(max_epochs))
        if max_epochs and max_epochs > 0
        else every
    }


def build_datamodule_and_model(
    cfg: DictConfig,
    prepared: PreparedData,
    steps_per_batch: int | None = None,
    batch_size: int | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """The WindowDataModule, the Forecaster (network, loss, optimizer) and the network's spec the
    config describes; the benchmarks and the refit build exactly what training builds through
    this (a refit keeps the evaluated fit's `batch_size`)."""
    from stockcast.models.losses import PinballLoss, make_loss
    from stockcast.models.net import build_price_forecaster, network_spec
    from stockcast.training.datamodule import WindowDataModule
    from stockcast.training.module import Forecaster

    datamodule = WindowDataModule(
        prepared,
        batch_size=fitted_batch_size(cfg, prepared) if batch_size is None else batch_size,
        steps_per_batch=cfg.data.steps_per_batch if steps_per_batch is None else steps_per_batch,
        eval_batch_size=cfg.data.eval_batch_size,
        seed=cfg.seed,
    )
    spec = network_spec(plain(cfg.model), prepared.window, prepared.scaler) | {
        "num_threads": int(cfg.num_threads)
    }
    model = Forecaster(
        net=build_price_forecaster(spec),
        loss=PinballLoss(cfg.model.quantiles)
        if cfg.model.quantiles
        else make_loss(cfg.model.loss, cfg.model.huber_delta),
        optimizer=hydra.utils.instantiate(cfg.optim.optimizer),
        scheduler=hydra.utils.instantiate(cfg.optim.scheduler) if cfg.optim.scheduler else None,
        scheduler_monitor=cfg.optim.monitor,
        mase_scale=prepared.mase_scale,
        window_scale_power=cfg.model.window_scale_power,
    )
    return datamodule, model, spec


def run_training(
    cfg: DictConfig, prepared: PreparedData, output_dir: str | Path, model_dir: str | Path
) -> dict[str, Any]:
    """Fit, test the best checkpoint, export the model directory; returns metrics.json's content."""
    import lightning as L

    from stockcast.serving.export import save_model_dir

    # Lightning attaches its own console handler; route its records through Hydra's instead.
    logging.getLogger("lightning").handlers.clear()
    output_dir, model_dir = Path(output_dir), Path(model_dir)
    set_threads(cfg.num_threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    resume_from = resume_checkpoint(cfg, prepared.meta)
    datamodule, model, spec = build_datamodule_and_model(cfg, prepared)
    if resume_from is not None:
        check_checkpoint_fits(resume_from, model)
    warm = start_warm(cfg, model, spec, output_dir)
    callbacks = _instantiate_all(cfg.get("callbacks"))
    if is_launch_rank_zero():
        close_orphaned_training_runs(cfg.get("logger"))
    loggers = _instantiate_all(cfg.get("logger"))
    with trainer_refusals():
        trainer = hydra.utils.instantiate(
            cfg.trainer,
            callbacks=callbacks,
            logger=loggers or False,
            **validation_schedule(cfg, datamodule),
            **({} if warm is None else {"max_steps": int(cfg.train.warm_max_steps)}),
        )
    hparams = flatten(plain(cfg)) | {"data_hash": prepared.meta["data_hash"]}
    for logger in loggers:
        logger.log_hyperparams(hparams)

    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    ckpt_path = checkpoint_on_every_rank(trainer.strategy, best) or None
    # Every rank loads the best checkpoint's weights once (validate and test then score the model
    # as it is, not reloading the file) and fits the same member weights on the full validation
    # set, so validation, the fallback and the bands score the weighted forecast.
    best_step = trainer.global_step
    if ckpt_path is not None:
        best_step = load_checkpoint_weights(model, ckpt_path)
    combination = fit_member_weights(cfg, model.net, prepared)
    if combination is not None:
        spec["combination"] = combination
    metrics: dict[str, Any] = {"val": _stage_metrics(trainer.validate, model, datamodule)}
    fell_back = falls_back_to_naive(cfg, model.net, metrics["val"], prepared)
    if fell_back:
        model.net.fall_back_to_naive()
        metrics["val"] = _stage_metrics(trainer.validate, model, datamodule)
        log.info(
            "the trained model did not beat the naive forecast on the validation windows, so it "
            "repeats the last price (fit.naive_fallback)"
        )
    metrics["fell_back_to_naive"] = fell_back
    if cfg.get("test", True):
        metrics["test"] = _stage_metrics(trainer.test, model, datamodule)
    if not trainer.is_global_zero:
        # The other DDP ranks took part in every stage above; rank 0 alone calibrates (on all
        # validation windows) and writes the model, metrics.json and the MLflow artifacts.
        return metrics

    spec["intervals"] = (
        {
            "method": "quantile",
            "bounds": {},
            "min_relative_scale": float(prepared.scaler["min_relative_scale"]),
        }
        if cfg.model.quantiles
        else calibrate_on_validation(
            model.net, prepared, [int(level) for level in cfg.model.interval_levels]
        )
    )
    run_id = next((lg.run_id for lg in loggers if hasattr(lg, "run_id")), None)
    metadata = {
        "kind": MODEL_KIND,
        "previous_time_window": prepared.window.previous_time_window,
        "next_time_window": prepared.window.next_time_window,
        "normalization": prepared.scaler["kind"],
        "data_hash": prepared.meta["data_hash"],
        "data_source": portable(prepared.meta["source"]),
        "has_dates": prepared.meta["has_dates"],
        "mase_scale": prepared.mase_scale,
        "training_run_id": run_id,
        "git_commit": git_commit(),
        "val_mase": metrics["val"].get("mase"),
        "fit_data_end": fit_data_end(prepared),
        # What the freshness check of the next run compares with (data.require_new_data).
        "data_as_of": prepared.meta.get("as_of"),
        "data_last_date": prepared.meta.get("last_date"),
        "warm_start": None if warm is None else warm.source,
    }
    last_inputs = prepared.splits["test"].values[-prepared.window.previous_time_window :]
    save_model_dir(model.net, spec, model_dir, metadata, last_inputs)
    # The full training config travels with the model, so the registry can show what made it.
    resolved = OmegaConf.to_container(cfg, resolve=True)
    # The copy that travels with the model carries no path of this machine.
    (model_dir / TRAINING_CONFIG_FILE).write_text(OmegaConf.to_yaml(portable(resolved)))
    summary = {
        **metrics,
        "best_checkpoint": best or None,
        "epochs": trainer.current_epoch,
        "optimizer_steps": trainer.global_step,
        # The evaluated budget a refit on all history repeats (pipeline.refit).
        "best_step": best_step,
        "batch_size": datamodule.batch_size,
        "warm_start": None if warm is None else warm.source,
        "training_run_id": run_id,
        "model_dir": str(model_dir),
    }
    if warm is not None and cfg.train.get("compare_cold"):
        summary["warm_vs_cold"] = warm_vs_cold(cfg, prepared, output_dir, metrics)
    write_json(output_dir / METRICS_FILE, summary)
    (output_dir / RESOLVED_CONFIG_FILE).write_text(OmegaConf.to_yaml(resolved))
    for logger in loggers:
        if hasattr(logger, "experiment") and run_id:
            logger.experiment.log_artifact(run_id, str(output_dir / METRICS_FILE))
    tracking_uri = OmegaConf.select(cfg, "logger.mlflow.tracking_uri")
    for line in training_summary(metrics, model_dir, run_id, tracking_uri).splitlines():
        log.info(line)
    return summary


def start_warm(cfg: DictConfig, model: Any, spec: dict[str, Any], workdir: Path) -> Any:
    """Load the weights `train.init_from` names into the network (None: a cold start)."""
    from stockcast.models.net import load_weights
    from stockcast.training.warm_start import warm_start

    warm = warm_start(cfg, spec, workdir)
    if warm is not None:
        load_weights(model.net, warm.state)
        # Fine-tuning from a trained model: a full learning rate throws away what it knew.
        lr = float(cfg.optim.lr) * float(cfg.train.warm_lr_scale)
        model.optimizer_factory = functools.partial(model.optimizer_factory, lr=lr)
        log.info(
            "starting from %s version %d's weights (train.init_from), %d optimizer steps",
            warm.source["model_name"],
            warm.source["version"],
            int(cfg.train.warm_max_steps),
        )
    return warm


def warm_vs_cold(
    cfg: DictConfig, prepared: PreparedData, output_dir: Path, warm: dict[str, Any]
) -> dict[str, Any]:
    """The same configuration fitted from random weights with the cold budget
    (`train.compare_cold`), scored on the same validation and test windows as the warm fit:
    whether starting from the champion paid off. Its files go to `<run>/cold`."""
    if configured_world_size(cfg.trainer) > 1:
        return {"skipped": "train.compare_cold runs only without DDP"}
    cold_cfg = copy.deepcopy(cfg)
    with open_dict(cold_cfg):
        cold_cfg.train.init_from = None
        cold_cfg.logger = None
        cold_cfg.paths.output_dir = str(output_dir / "cold")
    cold = run_training(cold_cfg, prepared, output_dir / "cold", output_dir / "cold" / "model")
    scores = {
        name: {
            "val_mase": found["val"].get("mase"),
            "test_mase": (found.get("test") or {}).get("mase"),
            "fell_back_to_naive": found["fell_back_to_naive"],
        }
        for name, found in (("warm", warm), ("cold", cold))
    }
    scores["cold"]["optimizer_steps"] = cold["optimizer_steps"]
    log.info(
        "warm start vs cold on the same windows: validation MASE %.4f vs %.4f",
        scores["warm"]["val_mase"],
        scores["cold"]["val_mase"],
    )
    return scores


def fit_data_end(prepared: PreparedData) -> str | None:
    """The last date the fit saw (weights or model selection: the end of validation), so a later
    comparison can score this model only on windows after it; None for undated data."""
    return date_bound(prepared.splits["val"].dates)


def load_checkpoint_weights(model: Any, path: str) -> int:
    """The checkpoint's weights into `model` (Lightning's validate would load them too, but the
    member weights must be fitted before it scores); returns the optimizer step it was saved at."""
    checkpoint = read_checkpoint(path)
    model.load_state_dict(checkpoint["state_dict"])
    return int(checkpoint["global_step"])


def falls_back_to_naive(
    cfg: DictConfig, net: Any, val: dict[str, float], prepared: PreparedData
) -> bool:
    """Whether the anchored model should give up its learning and repeat the last price: when it
    does not beat the naive forecast on the validation windows by `fit.min_gain_over_naive`, or
    (with `fit.max_p_value_vs_naive`) not convincingly: a Diebold–Mariano test of its per-window
    errors against naive's must reject "no better" at that level. On a random walk a lucky
    validation score is noise, and noise is what a model would then add to every forecast."""
    if not (cfg.fit.naive_fallback and net.anchored) or "naive_mase" not in val:
        return False
    if val["mase"] > val["naive_mase"] * (1.0 - float(cfg.fit.min_gain_over_naive)):
        return True
    max_p_value = cfg.fit.get("max_p_value_vs_naive")
    if max_p_value is None:
        return False
    from stockcast.forecasting import diebold_mariano, naive_forecast

    windows, forecast = validation_forecasts(net, prepared)
    horizon = windows.next_time_window
    model_error = np.abs(forecast - windows.actual).mean(axis=1)
    naive_error = np.abs(naive_forecast(windows.inputs, horizon) - windows.actual).mean(axis=1)
    statistic, p_value = diebold_mariano(model_error, naive_error, horizon)
    one_sided = p_value / 2.0 if statistic < 0 else 1.0 - p_value / 2.0
    return not (np.isfinite(one_sided) and one_sided <= float(max_p_value))


def validation_forecasts(
    net: Any, prepared: PreparedData, members: bool = False
) -> tuple[Any, np.ndarray]:
    """Every validation window (rolling origins) and the network's point forecast for it; with
    `members`, each member's, (members, windows, horizon)."""
    import torch

    from stockcast.forecasting import rolling_origins

    val, window = prepared.splits["val"], prepared.window
    windows = rolling_origins(
        val.values, window.previous_time_window, window.next_time_window, val.window_starts(window)
    )
    net.eval()
    with torch.inference_mode():
        inputs = torch.as_tensor(windows.inputs, dtype=torch.float32)
        forecast = net.member_forecasts(inputs) if members else net(inputs)
    return windows, forecast.double().numpy()


def fit_member_weights(cfg: DictConfig, net: Any, prepared: PreparedData) -> dict[str, Any] | None:
    """Weigh the members by their errors on the validation windows (`model.combination`), set
    the weights on `net` and return the spec's `combination`; None: `net` combines the members
    by their mean.

    The members' mean treats a member that forecasts the held-out windows twice as badly as the
    others alike; inverse-MSE weights (Bates and Granger) let it count less without choosing
    one member on a few noisy windows."""
    net.set_member_weights(None)
    if cfg.model.combination == "mean" or net.mlp.members == 1:
        return None
    from stockcast.forecasting import inverse_mse_weights

    windows, member_forecasts = validation_forecasts(net, prepared, members=True)
    if len(windows) == 0:
        return None
    if not np.isfinite(member_forecasts).all():
        log.warning("a member's validation forecasts are not finite: the members are not weighted")
        return None
    power = float(cfg.model.combination_power)
    weights = inverse_mse_weights(member_forecasts, windows.actual, power)
    net.set_member_weights(weights.tolist())
    return {
        "method": "inverse_mse",
        "power": power,
        "weights": [float(w) for w in weights],
        "validation_windows": len(windows),
    }


def calibrate_on_validation(net: Any, prepared: PreparedData, levels: list[int]) -> dict[str, Any]:
    """Split-conformal interval bounds from the validation windows (which the network was not
    trained on; only the members' combination weights were fitted there), in units of each
    window's recent volatility; stored in the model's spec."""
    from stockcast.forecasting import calibrate_intervals, conformal_windows_needed

    windows, forecast = validation_forecasts(net, prepared)
    min_relative_scale = float(prepared.scaler["min_relative_scale"])
    needed = {str(level): conformal_windows_needed(level) for level in levels}
    for level, count in needed.items():
        if len(windows) < count:
            # Both bounds are then the extreme errors: on exchangeable windows that range holds
            # a new one with probability (n - 1) / (n + 1).
            log.warning(
                "only %d validation windows, fewer than the %d a calibrated %s%% band needs: the "
                "band spans the validation errors' full range, which holds about %.0f%% of new "
                "windows; a longer series or validation split fixes that",
                len(windows),
                count,
                level,
                100.0 * (len(windows) - 1) / (len(windows) + 1),
            )
    return {
        "method": "split_conformal",
        "calibration_windows": len(windows),
        "windows_needed": needed,
        "min_relative_scale": min_relative_scale,
        "bounds": calibrate_intervals(
            windows.inputs, forecast, windows.actual, levels, min_relative_scale
        )
        if levels
        else {},
    }


def _stage_metrics(run_stage: Any, model: Any, datamodule: Any) -> dict:
    """Run validate/test on the model's current weights and return its metrics without the stage
    prefix."""
    results = run_stage(model, datamodule=datamodule, verbose=False)
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


def run_train_task(cfg: DictConfig) -> float | None:
    """`python src/train.py`: prepare the data into the run directory, train, and return the
    value a sweeper optimises."""
    from stockcast.orchestration.steps.prepare import run_prepare

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
