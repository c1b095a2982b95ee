"""What a fit is built from: the batch size and validation schedule that suit the series, the
datamodule, the network the `model` config describes and the LightningModule that trains it.
The train step, the refit and the benchmarks all build through here."""

from __future__ import annotations

import importlib
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from stockcast.config.compose import plain
from stockcast.config.mixed_precision import refuse_clipping_a_fused_mixed_precision_step
from stockcast.config.trainer_section import duration
from stockcast.data.prepared import PreparedData
from stockcast.models.kind import DEFAULT_TRAINING_MODULE, KindDefinitionError, model_kind
from stockcast.models.level_range import LevelRange
from stockcast.models.spec import build_price_forecaster, network_spec
from stockcast.training.datamodule import WindowDataModule
from stockcast.training.distributed import configured_world_size
from stockcast.training.evaluated_recipe import LrDropShares
from stockcast.training.losses import PinballLoss, make_loss

# Trainer arguments the training module applies itself (it steps its optimizer by hand, and
# Lightning refuses them for such a module): the Trainer is built without them.
CLIPPED_BY_THE_MODULE = {"gradient_clip_val": None, "gradient_clip_algorithm": None}


def max_time_argument(trainer: DictConfig) -> dict[str, Any]:
    """`trainer.max_time` as Lightning reads it: a mapping (`{days: 1}`) as the duration it
    says, since its Timer reads only a dict as one and Hydra hands it a DictConfig (also of a
    dict given as an argument, which it merges into the config); {} for any other value, which
    the Trainer reads from its config as it is."""
    held = trainer.get("max_time")
    if not isinstance(held, DictConfig):
        return {}
    return {"max_time": duration(OmegaConf.to_container(held, resolve=True))}


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Every `_target_` node of a config group (callbacks, loggers), instantiated in order; one
    set to null (`callbacks.early_stopping=null`) is switched off."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(node)
        for node in group.values()
        if node is not None and "_target_" in node
    ]


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


def training_module_class(kind: str) -> type[Any]:
    """The LightningModule class a model kind trains with (`ModelKind.training_module`); a
    path that leads to no class is the kind author's mistake, one sentence, not a traceback."""
    named = model_kind(kind).training_module
    module, _, name = named.partition(":")
    try:
        found = getattr(importlib.import_module(module), name) if module and name else None
    except ImportError as err:
        problem = f"cannot be imported ({type(err).__name__}: {err})"
    except AttributeError:
        problem = f"names no {name} in {module}"
    else:
        problem = None if isinstance(found, type) else "is not a module and a class in it"
    if problem is not None:
        raise KindDefinitionError(
            f"model.kind={kind}: its KIND's training_module {named!r} {problem}; name its "
            f"LightningModule as 'package.module:Class' (by default {DEFAULT_TRAINING_MODULE})."
        )
    return found


def fitted_level_range(cfg: DictConfig, prepared: PreparedData) -> LevelRange | None:
    """The range of the values this fit trains on (a refit's whole history, a fold's cut),
    outside which the members that read the level step aside for a window
    (`fit.level_members_max_outside`; null: never). A panel's range is its series' together:
    the network does not know which series a window is from, and its level members learned
    every series' levels."""
    limit = OmegaConf.select(cfg, "fit.level_members_max_outside")
    values = prepared.splits["train"].values
    if limit is None or len(values) == 0:
        return None
    return LevelRange(float(values.min()), float(values.max()), float(limit))


def build_datamodule_and_model(
    cfg: DictConfig,
    prepared: PreparedData,
    steps_per_batch: int | None = None,
    batch_size: int | None = None,
    replayed_lr_drops: LrDropShares = (),
) -> tuple[Any, Any, dict[str, Any]]:
    """The WindowDataModule, the LightningModule (network, loss, optimizer) and the network's
    spec the config describes (a refit keeps the evaluated fit's `batch_size` and repeats its
    learning-rate schedule, `replayed_lr_drops`)."""
    refuse_clipping_a_fused_mixed_precision_step(cfg)
    datamodule = WindowDataModule(
        prepared,
        batch_size=fitted_batch_size(cfg, prepared) if batch_size is None else batch_size,
        steps_per_batch=cfg.data.steps_per_batch if steps_per_batch is None else steps_per_batch,
        eval_batch_size=cfg.data.eval_batch_size,
        seed=cfg.seed,
    )
    spec = network_spec(
        plain(cfg.model),
        prepared.window,
        prepared.scaler,
        prepared.meta,
        fitted_level_range(cfg, prepared),
    ) | {"num_threads": int(cfg.num_threads)}
    model = training_module_class(cfg.model.kind)(
        net=build_price_forecaster(spec),
        loss=PinballLoss(cfg.model.quantiles)
        if cfg.model.quantiles
        else make_loss(cfg.model.loss, cfg.model.huber_delta),
        optimizer=hydra.utils.instantiate(cfg.optim.optimizer),
        scheduler=hydra.utils.instantiate(cfg.optim.scheduler) if cfg.optim.scheduler else None,
        scheduler_monitor=cfg.optim.monitor,
        mase_scale=prepared.mase_scale,
        window_scale_power=cfg.model.window_scale_power,
        method_lr_scale=cfg.optim.method_lr_scale,
        gradient_clip_val=cfg.trainer.get("gradient_clip_val"),
        gradient_clip_algorithm=cfg.trainer.get("gradient_clip_algorithm"),
        replayed_lr_drops=replayed_lr_drops,
    )
    return datamodule, model, spec
