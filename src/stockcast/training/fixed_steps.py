"""A fit for a fixed number of optimizer steps, with nothing held out: what the refit, its
held-back check and the rolling-origin folds repeat of an evaluated fit's recipe."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from stockcast.data.prepared import PreparedData
from stockcast.training.build import (
    CLIPPED_BY_THE_MODULE,
    build_datamodule_and_model,
    max_time_argument,
)
from stockcast.training.distributed import configured_world_size
from stockcast.training.evaluated_recipe import LrDropShares
from stockcast.training.runtime import fit_or_interrupt, set_threads, trainer_refusals
from stockcast.training.stages import back_in_float32
from stockcast.training.warm_start import start_warm


class FixedStepFit(NamedTuple):
    """What `refit_network` fitted: the network, its spec without intervals, the warm start's
    source or None, and the optimizer steps it took (fewer than asked where trainer.max_time
    stopped it), which the refit's record reports."""

    net: Any
    spec: dict[str, Any]
    warm_source: dict[str, Any] | None
    steps: int


def one_process_trainer(trainer: DictConfig) -> tuple[DictConfig, int]:
    """(The trainer config for a fit in this process alone, how many processes the configured
    one runs.) A fit of `refit_network` runs inside a pipeline step or beside another fit, where
    DDP's launch would run the whole step again for every other rank; its evaluated fit's
    optimizer step covered every rank's batch, so one process takes that many batches at once."""
    processes = configured_world_size(trainer)
    if processes <= 1:
        return trainer, 1
    single = OmegaConf.create(OmegaConf.to_container(trainer, resolve=True))
    single.devices, single.num_nodes, single.strategy = 1, 1, "auto"
    return single, processes


def windows_per_step(trainer: DictConfig, batch_size: int) -> int:
    """The batch a fit of `refit_network` takes at each optimizer step: one rank's
    `batch_size` times the processes the configured trainer runs, since the evaluated fit's
    step covered every rank's batch."""
    return batch_size * one_process_trainer(trainer)[1]


def refit_network(
    cfg: DictConfig,
    history: PreparedData,
    optimizer_steps: int,
    batch_size: int,
    lr_drops: LrDropShares = (),
) -> FixedStepFit:
    """The configured network fitted on `history` (`history_for_refit`) for exactly
    `optimizer_steps` steps (fewer where trainer.max_time stops it first), with no validation,
    checkpoints or early stopping, in this process (`one_process_trainer`; `batch_size` is one
    rank's), its learning rate lowered where the evaluated fit's was (`lr_drops`:
    `LrDropShares`)."""
    logging.getLogger("lightning").handlers.clear()
    set_threads(cfg.num_threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    trainer_cfg, _ = one_process_trainer(cfg.trainer)
    datamodule, model, spec = build_datamodule_and_model(
        cfg,
        history,
        batch_size=windows_per_step(cfg.trainer, batch_size),
        replayed_lr_drops=lr_drops,
    )
    # The evaluated recipe, repeated: from the same warm start when it had one.
    warm = start_warm(
        cfg, model, spec, Path(cfg.paths.output_dir), history.meta.get("last_date"), optimizer_steps
    )
    with trainer_refusals():
        trainer = hydra.utils.instantiate(
            trainer_cfg,
            # Nothing to train (a lone ets, or a refit that kept only its ets candidate): no steps.
            max_steps=optimizer_steps if model.learns else 0,
            max_epochs=None,
            min_epochs=None,
            callbacks=[],
            logger=False,
            enable_checkpointing=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            **CLIPPED_BY_THE_MODULE,
            **max_time_argument(trainer_cfg),
        )
    # Even with no steps: a kind fitted on the series (ets) fits on `history` as the fit starts.
    # The folds, the held-back check and the refit's export forecast in float32.
    with back_in_float32(model):
        fit_or_interrupt(trainer, model, datamodule=datamodule)
    source = None if warm is None else warm.source
    return FixedStepFit(model.net, spec, source, trainer.global_step)
