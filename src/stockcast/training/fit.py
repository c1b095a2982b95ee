"""One fit on a prepared folder: build, train to the best checkpoint, weigh the members and decide
the naive fallback on the validation windows, score validation and test. What the run writes of
it (bands, model folder, metrics.json) is `training_run`'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig

from stockcast.config.compose import plain
from stockcast.data.mase_scales import series_scales
from stockcast.data.prepared import PreparedData
from stockcast.errors import ConfigError
from stockcast.models.spec import member_names
from stockcast.redaction import redacted
from stockcast.registry.runs import close_orphaned_training_runs, label_tags
from stockcast.training.build import (
    CLIPPED_BY_THE_MODULE,
    build_datamodule_and_model,
    instantiate_all,
    max_time_argument,
    validation_schedule,
)
from stockcast.training.checkpoint_file import check_checkpoint_fits
from stockcast.training.distributed import (
    checkpoint_on_every_rank,
    is_launch_rank_zero,
)
from stockcast.training.evaluated_recipe import FitSchedule, lr_drop_shares, lr_drops_before
from stockcast.training.folds import FoldEvidence, fold_evidence
from stockcast.training.last_step_validation import ValidateAtLastStep
from stockcast.training.member_weights import fit_member_weights
from stockcast.training.module import Forecaster
from stockcast.training.naive_fallback import diverged, falls_back_to_naive
from stockcast.training.precision_used import (
    say_the_precision_used,
    without_lightning_cpu_fp16_warning,
)
from stockcast.training.resume import resume_checkpoint
from stockcast.training.resume_settings import check_same_warm_start
from stockcast.training.resume_state import ResumeState
from stockcast.training.runtime import (
    fit_or_interrupt,
    runs_end_as_the_fit,
    set_threads,
    trainer_refusals,
)
from stockcast.training.stages import back_in_float32, load_checkpoint_weights, stage_metrics
from stockcast.training.summary import (
    logged_params,
)
from stockcast.training.warm_start import WarmStart, start_warm
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


def fit(cfg: DictConfig, prepared: PreparedData, output_dir: Path) -> Fitted:
    """Train to the best checkpoint, then weigh members, decide the fallback and score it."""
    # Lightning attaches its own console handler; route its records through Hydra's instead.
    logging.getLogger("lightning").handlers.clear()
    set_threads(cfg.num_threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    resume_from = resume_checkpoint(cfg, prepared.meta)
    datamodule, model, spec = build_datamodule_and_model(cfg, prepared)
    shortest_train = min(len(values) for values in prepared.splits["train"].segments())
    warn_of_seasonless_windows(
        model.net.core, prepared.season_length, prepared.window, cfg.data, shortest_train
    )
    warn_of_cut_candidate_windows(cfg.model, prepared.window.previous_time_window)
    if resume_from is not None:
        check_checkpoint_fits(resume_from, model)
    warm = start_warm(cfg, model, spec, output_dir, prepared.meta.get("last_date"))
    source = None if warm is None else warm.source
    if resume_from is not None:
        check_same_warm_start(cfg, resume_from, source)
    # Every checkpoint carries the settings and random state a resume needs (train.resume).
    resume_state = ResumeState(redacted(plain(cfg)), source, resume_from)
    callbacks = [*instantiate_all(cfg.get("callbacks")), resume_state, ValidateAtLastStep()]
    if is_launch_rank_zero():
        close_orphaned_training_runs(cfg.get("logger"))
    loggers = instantiate_loggers(cfg)
    with trainer_refusals(), without_lightning_cpu_fp16_warning():
        trainer = hydra.utils.instantiate(
            cfg.trainer,
            callbacks=callbacks,
            logger=loggers or False,
            **validation_schedule(cfg, datamodule),
            **step_budget(cfg, model, warm),
            **CLIPPED_BY_THE_MODULE,
            **max_time_argument(cfg.trainer),
        )
    say_the_precision_used(cfg.trainer.get("precision"), str(trainer.precision))
    # The precision Lightning trains in, not the one asked for (16-mixed on a CPU is bf16-mixed,
    # as the run's log says), or the run's record would contradict its log. Beside optim.lr and
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
        return best_scored(cfg, prepared, spec, model, datamodule, trainer, loggers, warm)


def best_scored(
    cfg: DictConfig,
    prepared: PreparedData,
    spec: dict[str, Any],
    model: Forecaster,
    datamodule: Any,
    trainer: Any,
    loggers: list[Any],
    warm: WarmStart | None,
) -> Fitted:
    """The trained model at its best checkpoint, its members weighed, the naive fallback decided
    and validation and test scored."""
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
    folds_fit = FitSchedule(best_step, datamodule.batch_size, lr_drop_shares(lr_drops, best_step))
    folds = fold_evidence(cfg, prepared, folds_fit, warm=warm is not None)
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
            ", or let fit.naive_fallback=true repeat the last price" if model.net.anchored else ""
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
