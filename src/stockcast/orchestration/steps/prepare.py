"""Prepare step: data config (+ as_of) -> prepared folder (split series, scaler, meta.json)."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from stockcast.config.compose import plain
from stockcast.config.task import hydra_task
from stockcast.data.auto_window import window_sentence
from stockcast.data.prepared import prepare_data
from stockcast.evaluation.season_baseline import check_season_length
from stockcast.orchestration.steps.table_step import table_step
from stockcast.registry.freshness import check_new_data

log = logging.getLogger(__name__)


def run_prepare(cfg: DictConfig, output_dir: str | Path | None = None) -> Path:
    """The prepare step; given `output_dir` (the train task's run folder, a benchmark's), it
    writes there instead, and neither binds nor makes the step table's folder."""
    if output_dir is None:
        return run_prepare_step(cfg)
    return prepare_into(cfg, Path(output_dir))


@table_step("prepare")
def run_prepare_step(cfg: DictConfig) -> Path:
    return prepare_into(cfg, Path(cfg.prepare.output_dir))


def prepare_into(cfg: DictConfig, output_dir: Path) -> Path:
    prepared = prepare_data(plain(cfg.data))
    meta = prepared.meta
    if cfg.data.get("require_new_data", False):
        check_new_data(meta, plain(cfg.registry))
    # A pipeline's evaluate step would refuse it only after the train step's fit.
    if cfg.get("evaluate") is not None:
        check_season_length(cfg.evaluate.season_length, prepared)
    folder = prepared.save(output_dir)
    # Undated data (no date column) has no span to name.
    span = (
        f" ({meta['first_date']} to {meta['last_date']}, as of {meta['as_of']})"
        if meta.get("last_date") is not None
        else ""
    )
    log.info(
        "prepared %s windows (train/val/test) of %s from %d points%s, data hash %s -> %s",
        "/".join(str(meta["n_windows"][s]) for s in ("train", "val", "test")),
        window_sentence(meta),
        meta["n_points"],
        span,
        meta["data_hash"],
        folder,
    )
    return folder


main = hydra_task(run_prepare)

if __name__ == "__main__":
    main()
