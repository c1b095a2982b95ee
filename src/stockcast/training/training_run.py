"""One training run on a prepared folder: the fit (`fit`), then what it leaves behind, on rank 0:
the bands calibrated, the model folder exported, metrics.json and the resolved config written and
logged, and with `train.compare_cold` a cold fit beside a warm one. What the train step, a
benchmark and a refit's comparison call."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from stockcast.data.calendar import default_day_pinned
from stockcast.data.prepared import PreparedData
from stockcast.errors import StockcastError
from stockcast.files import write_json
from stockcast.paths import portable
from stockcast.redaction import redacted
from stockcast.serving.metadata import TRAINING_CONFIG_FILE
from stockcast.training.calibration import interval_spec
from stockcast.training.distributed import configured_world_size
from stockcast.training.export import save_model_dir
from stockcast.training.fit import Fitted, fit
from stockcast.training.metadata import model_metadata
from stockcast.training.runtime import mlflow_runs, runs_end_as_the_fit
from stockcast.training.summary import (
    METRICS_FILE,
    RESOLVED_CONFIG_FILE,
    run_relative,
    training_summary,
)
from stockcast.training.warm_start import cold_reason

log = logging.getLogger(__name__)


def run_training(
    cfg: DictConfig, prepared: PreparedData, output_dir: str | Path, model_dir: str | Path
) -> dict[str, Any]:
    """Fit, test the best checkpoint, export the model directory; returns metrics.json's content."""
    output_dir, model_dir = Path(output_dir), Path(model_dir)
    cfg = on_its_data_day(cfg, prepared)
    # Lightning starts the other DDP ranks during the fit by running the command again: each
    # composes its config anew, and reads rank 0's day where data.as_of is left to the clock.
    with default_day_pinned(str(cfg.data.as_of)):
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
    runs = mlflow_runs(fitted.loggers)
    run_id = runs[0][1] if runs else None
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
    for logger, own_run in runs:
        logger.experiment.log_artifact(own_run, str(output_dir / METRICS_FILE))
    tracking_uri = OmegaConf.select(cfg, "logger.mlflow.tracking_uri")
    for line in training_summary(fitted.metrics, model_dir, run_id, tracking_uri).splitlines():
        log.info(line)
    return summary


def on_its_data_day(cfg: DictConfig, prepared: PreparedData) -> DictConfig:
    """`cfg` with `data.as_of` the day its prepared folder was read as of. The default day is the
    clock's, read again wherever the config is: a run that crossed midnight UTC after preparing
    its data, or a pipeline step composed later (on another cloud node), recorded the next day
    in its training config, MLflow params and resume settings, which names other data. Written
    even where the clock still agrees: a default left to it is read again after the fit, which
    may end past midnight."""
    day = (prepared.meta.get("source") or {}).get("as_of")
    if day is None:
        return cfg
    dated = copy.deepcopy(cfg)
    with open_dict(dated):
        dated.data.as_of = day
    return dated


def stage_scores(found: dict[str, Any]) -> dict[str, Any]:
    """One fit's validation and test MASE and fallback, as `warm_vs_cold` records them."""
    return {
        "val_mase": found["val"].get("mase"),
        "test_mase": (found.get("test") or {}).get("mase"),
        "fell_back_to_naive": found["fell_back_to_naive"],
    }


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
    try:
        cold = run_training(cold_cfg, prepared, output_dir / "cold", output_dir / "cold" / "model")
    except StockcastError as err:
        # The warm model is saved and sound: a comparison whose cold fit is refused (diverged
        # at the full optim.lr) failed the run, and its metrics.json was never written.
        log.warning("train.compare_cold: the cold fit failed, so nothing is compared: %s", err)
        return {"warm": stage_scores(warm), "cold": {"failed": str(err)}}
    scores = {"warm": stage_scores(warm), "cold": stage_scores(cold)}
    scores["cold"]["optimizer_steps"] = cold["optimizer_steps"]
    log.info(
        "warm start vs cold on the same windows: validation MASE %.4f vs %.4f",
        scores["warm"]["val_mase"],
        scores["cold"]["val_mase"],
    )
    return scores
