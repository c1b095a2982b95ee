"""Fit a model on a prepared folder and write it: the train step's domain.

One fit: build, train to the best checkpoint, weigh the members and decide the naive fallback on
the validation windows, score validation and test, calibrate the bands, export the model folder
and write metrics.json (what a refit and the sweeps read back).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf, open_dict

from stockcast.config.compose import plain
from stockcast.data.mase_scales import series_scales
from stockcast.data.prepared import PreparedData
from stockcast.errors import ConfigError
from stockcast.files import write_json
from stockcast.models.spec import member_names
from stockcast.paths import portable
from stockcast.redaction import redacted
from stockcast.registry.runs import close_orphaned_training_runs, label_tags
from stockcast.serving.metadata import TRAINING_CONFIG_FILE
from stockcast.training.build import (
    CLIPPED_BY_THE_MODULE,
    build_datamodule_and_model,
    instantiate_all,
    max_time_argument,
    validation_schedule,
)
from stockcast.training.calibration import interval_spec
from stockcast.training.distributed import (
    checkpoint_on_every_rank,
    configured_world_size,
    is_launch_rank_zero,
)
from stockcast.training.evaluated_recipe import lr_drop_shares, lr_drops_before
from stockcast.training.export import save_model_dir
from stockcast.training.folds import FoldEvidence, fold_evidence
from stockcast.training.metadata import model_metadata
from stockcast.training.module import Forecaster
from stockcast.training.resume import (
    check_checkpoint_fits,
    check_same_warm_start,
    resume_checkpoint,
)
from stockcast.training.resume_state import ResumeState
from stockcast.training.runtime import (
    fit_or_interrupt,
    runs_end_as_the_fit,
    set_threads,
    trainer_refusals,
)
from stockcast.training.stages import back_in_float32, load_checkpoint_weights, stage_metrics
from stockcast.training.summary import (
    METRICS_FILE,
    RESOLVED_CONFIG_FILE,
    logged_params,
    run_relative,
    training_summary,
)
from stockcast.training.validation import diverged, falls_back_to_naive, fit_member_weights
from stockcast.training.warm_start import WarmStart, cold_reason, start_warm
from stockcast.training.window_warnings import (
    warn_of_cut_candidate_windows,
    warn_of_seasonless_windows,
)

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    """A finished fit: the trained LightningModule and what the run around it produced."""

    model: Any
    spec: dict[str, Any]
    metrics: dict[str, Any]
    trainer: Any
    datamodule: Any
    loggers: list[Any]
    best_checkpoint: str
    best_step: int
    # [steps taken, each parameter group's rate relative to its start] where the schedule
    # lowered it before the best step: what a fit of the evaluated budget repeats. None: not
    # known (resumed from a checkpoint saved before the schedule was kept).
    lr_drops: list[list[Any]] | None
    warm: WarmStart | None
    # The rolling-origin folds' forecasts, where the validation split was too short alone.
    folds: FoldEvidence | None = None


def run_training(
    cfg: DictConfig, prepared: PreparedData, output_dir: str | Path, model_dir: str | Path
) -> dict[str, Any]:
    """Fit, test the best checkpoint, export the model directory; returns metrics.json's content."""
    output_dir, model_dir = Path(output_dir), Path(model_dir)
    cfg = on_its_data_day(cfg, prepared)
    fitted = fit(cfg, prepared, output_dir)
    if not fitted.trainer.is_global_zero:
        # The other DDP ranks took part in every stage; rank 0 alone calibrates (on all its
        # calibration windows) and writes the model, metrics.json and the MLflow artifacts.
        return fitted.metrics
    # Where calibration or the export fails, the run ends FAILED, not as Lightning left it.
    with runs_end_as_the_fit(fitted.loggers):
        return export_fit(cfg, prepared, fitted, output_dir, model_dir)


def export_fit(
    cfg: DictConfig, prepared: PreparedData, fitted: Fitted, output_dir: Path, model_dir: Path
) -> dict[str, Any]:
    """Calibrate the bands, export the model directory and write metrics.json (rank 0)."""
    fell_back = bool(fitted.metrics.get("fell_back_to_naive"))
    fitted.spec["intervals"] = interval_spec(
        cfg, fitted.model.net, prepared, fell_back, fitted.folds
    )
    run_id = next((lg.run_id for lg in fitted.loggers if hasattr(lg, "run_id")), None)
    warm_source = None if fitted.warm is None else fitted.warm.source
    val_mase = fitted.metrics["val"].get("mase")
    metadata = model_metadata(prepared, val_mase, run_id, warm_source, fell_back)
    # The example input is the last window the model was chosen on: the test split's values
    # stay out of the evaluated model (and of the copy of it a refit keeps).
    last_inputs = prepared.splits["val"].values[-prepared.window.previous_time_window :]
    save_model_dir(fitted.model.net, fitted.spec, model_dir, metadata, last_inputs)
    # The full training config travels with the model (without this machine's paths or any
    # secret: `redacted`), so the registry can show what made it.
    resolved = redacted(OmegaConf.to_container(cfg, resolve=True))
    (model_dir / TRAINING_CONFIG_FILE).write_text(OmegaConf.to_yaml(portable(resolved)))
    run_folder = Path(cfg.paths.output_dir)
    summary = {
        **fitted.metrics,
        # Relative to the run folder (paths.output_dir): metrics.json is logged and copied.
        "best_checkpoint": run_relative(fitted.best_checkpoint, run_folder),
        "epochs": fitted.trainer.current_epoch,
        "optimizer_steps": fitted.trainer.global_step,
        # The evaluated budget a refit on all history repeats (pipeline.refit).
        "best_step": fitted.best_step,
        "batch_size": fitted.datamodule.batch_size,
        "lr_drops": fitted.lr_drops,
        # How many processes took a batch each at every step: the refit's step takes them all.
        "processes": fitted.trainer.world_size,
        "warm_start": warm_source,
        "training_run_id": run_id,
        "model_dir": run_relative(model_dir, run_folder),
    }
    if cfg.train.get("compare_cold"):
        if fitted.warm is not None:
            summary["warm_vs_cold"] = warm_vs_cold(cfg, prepared, output_dir, fitted.metrics)
        else:
            # Said, not silent: a replay's first day (no champion yet) starts cold too.
            why = cold_reason(cfg)
            log.warning("train.compare_cold: no warm fit to compare with a cold one (%s)", why)
            summary["warm_vs_cold"] = {"skipped": f"no warm fit to compare ({why})"}
    write_json(output_dir / METRICS_FILE, summary)
    (output_dir / RESOLVED_CONFIG_FILE).write_text(OmegaConf.to_yaml(resolved))
    # The MLflow loggers' run only: a CSV logger beside it (logger=[mlflow,csv]) has an
    # `experiment` too, its file writer.
    for logger in fitted.loggers:
        if hasattr(logger, "run_id") and run_id:
            logger.experiment.log_artifact(run_id, str(output_dir / METRICS_FILE))
    tracking_uri = OmegaConf.select(cfg, "logger.mlflow.tracking_uri")
    for line in training_summary(fitted.metrics, model_dir, run_id, tracking_uri).splitlines():
        log.info(line)
    return summary


def on_its_data_day(cfg: DictConfig, prepared: PreparedData) -> DictConfig:
    """`cfg` with `data.as_of` the day its prepared folder was read as of. The default day is the
    clock's, read again wherever the config is: a run that crossed midnight UTC after preparing
    its data, or a pipeline step composed later (on another cloud node), recorded the next day
    in its training config, MLflow params and resume settings, which names other data."""
    day = (prepared.meta.get("source") or {}).get("as_of")
    if day is None or OmegaConf.select(cfg, "data.as_of") == day:
        return cfg
    dated = copy.deepcopy(cfg)
    with open_dict(dated):
        dated.data.as_of = day
    return dated


def fit(cfg: DictConfig, prepared: PreparedData, output_dir: Path) -> Fitted:
    """Train to the best checkpoint, then weigh members, decide the fallback and score it."""
    # Lightning attaches its own console handler; route its records through Hydra's instead.
    logging.getLogger("lightning").handlers.clear()
    set_threads(cfg.num_threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    resume_from = resume_checkpoint(cfg, prepared.meta)
    datamodule, model, spec = build_datamodule_and_model(cfg, prepared)
    warn_of_seasonless_windows(model.net.core, prepared.season_length, prepared.window, cfg.data)
    warn_of_cut_candidate_windows(cfg.model, prepared.window.previous_time_window)
    if resume_from is not None:
        check_checkpoint_fits(resume_from, model)
    warm = start_warm(cfg, model, spec, output_dir, prepared.meta.get("last_date"))
    source = None if warm is None else warm.source
    if resume_from is not None:
        check_same_warm_start(cfg, resume_from, source)
    # Every checkpoint carries the settings and random state a resume needs (train.resume).
    resume_state = ResumeState(redacted(plain(cfg)), source, resume_from)
    callbacks = [*instantiate_all(cfg.get("callbacks")), resume_state]
    if is_launch_rank_zero():
        close_orphaned_training_runs(cfg.get("logger"))
    loggers = instantiate_loggers(cfg)
    with trainer_refusals():
        trainer = hydra.utils.instantiate(
            cfg.trainer,
            callbacks=callbacks,
            logger=loggers or False,
            **validation_schedule(cfg, datamodule),
            **step_budget(cfg, model, warm),
            **CLIPPED_BY_THE_MODULE,
            **max_time_argument(cfg.trainer),
        )
    # The precision Lightning trains in, not the one asked for: on a CPU it runs 16-mixed as
    # bf16-mixed (with a warning the run's record would contradict). Beside optim.lr and
    # trainer.max_steps, the rate and budget the fit used: a warm start's lr x warm_lr_scale and
    # warm_max_steps, a network with nothing to train's 0 steps.
    hparams = logged_params(cfg) | {
        "data_hash": prepared.meta["data_hash"],
        "trainer.precision": str(trainer.precision),
        "trainer.max_steps_used": trainer.max_steps,
    }
    if model.start_lr is not None:
        hparams["optim.lr_used"] = model.start_lr
    for logger in loggers:
        logger.log_hyperparams(hparams)

    # Lightning ends the run FINISHED with the fit: the fallback and the test can still refuse it.
    with runs_end_as_the_fit(loggers):
        # Out of a fit in half or double precision, the network runs in float32 as it is served.
        with back_in_float32(model):
            fit_or_interrupt(trainer, model, datamodule=datamodule, ckpt_path=resume_from)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        ckpt_path = checkpoint_on_every_rank(trainer.strategy, best) or None
        # Every rank loads the best checkpoint's weights once (validate and test then score the model
        # as it is, not reloading the file) and fits the same member weights on the validation
        # windows every member serves, so validation, the fallback and the bands score the weighted
        # forecast.
        best_step = trainer.global_step
        if ckpt_path is not None:
            best_step = load_checkpoint_weights(model, ckpt_path)
        lr_drops = lr_drops_before(model.lr_drops, best_step)
        # A short validation split gets the evidence of earlier cuts of the train split beside it.
        folds = fold_evidence(
            cfg,
            prepared,
            best_step,
            datamodule.batch_size,
            warm=warm is not None,
            lr_drops=lr_drop_shares(lr_drops, best_step),
        )
        combination = fit_member_weights(cfg, model.net, prepared, member_names(spec), folds)
        if combination is not None:
            spec["combination"] = combination
        metrics: dict[str, Any] = {"val": stage_metrics(trainer.validate, model, datamodule)}
        if folds is not None:
            weights = combination["weights"] if combination else None
            metrics["folds"] = folds.record(weights, series_scales(prepared.splits["train"]))
        failed = diverged(metrics["val"])
        fell_back = falls_back_to_naive(cfg, model.net, metrics["val"], prepared, folds)
        if fell_back:
            model.net.fall_back_to_naive(failed)
            metrics["val"] = stage_metrics(trainer.validate, model, datamodule)
            log.info(
                "the trained model %s, so it repeats the last price (fit.naive_fallback)",
                "diverged (its validation forecasts are not numbers; a lower optim.lr may not)"
                if failed
                else "did not beat the naive forecast on the validation windows",
            )
        elif failed:
            # The fallback is an anchored model's (model.anchor=last): only there can it help.
            fallback = (
                ", or let fit.naive_fallback=true repeat the last price"
                if model.net.anchored
                else ""
            )
            raise ConfigError(
                "the fit diverged: its validation forecasts are not numbers, so no model is saved; "
                f"lower optim.lr{fallback}."
            )
        metrics["fell_back_to_naive"] = fell_back
        if cfg.get("test", True):
            metrics["test"] = stage_metrics(trainer.test, model, datamodule)
        return Fitted(
            model,
            spec,
            metrics,
            trainer,
            datamodule,
            loggers,
            best,
            best_step,
            lr_drops,
            warm,
            folds,
        )


def instantiate_loggers(cfg: DictConfig) -> list[Any]:
    """The config's loggers (`instantiate_all`); an MLflow one's run also carries the config's
    `tags` as labels, under the tags its own config sets."""
    labels = label_tags(cfg.get("tags"))
    loggers = []
    for node in (cfg.get("logger") or {}).values():
        if node is None or "_target_" not in node:
            continue
        extra = {}
        if str(node["_target_"]).endswith("MLFlowLogger"):
            own = plain(node.get("tags") or {})
            extra["tags"] = labels | {str(key): value for key, value in own.items()}
        loggers.append(hydra.utils.instantiate(node, **extra))
    return loggers


def step_budget(cfg: DictConfig, model: Forecaster, warm: WarmStart | None) -> dict[str, int]:
    """The trainer's `max_steps` where it is not `trainer.max_steps`: none for a network with
    nothing to train (a lone ets: the fit is its start, then validation as always), and
    `train.warm_max_steps` from a warm start."""
    if not model.learns:
        return {"max_steps": 0}
    return {} if warm is None else {"max_steps": int(cfg.train.warm_max_steps)}


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
        cold_cfg.train.compare_cold = False
        # A resumed warm fit's checkpoint is no start for the cold one: it fits afresh.
        cold_cfg.train.resume = None
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
