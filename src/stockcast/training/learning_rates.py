"""How a `Forecaster`'s learning rates move: its parameter groups and their starting rates,
the scheduler's changes a fit records (kept in its checkpoints, so a resumed fit keeps them),
and an evaluated fit's changes that a fit of a fixed step budget replays."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from stockcast.training.evaluated_recipe import LrDropShares

# Where a checkpoint keeps the learning rates a fit started from and its scheduler's changes.
LR_DROPS_KEY = "stockcast_lr_drops"


class LearningRates(L.LightningModule):
    """The learning-rate side of `Forecaster`, which gives it `net`, `optimizer_factory` and
    the `method_lr_scale` and `scheduler_monitor` hyperparameters."""

    def __init__(self, replayed_lr_drops: LrDropShares = ()) -> None:
        super().__init__()
        # A fit of a fixed step budget (a refit, a fold, the held-back check) repeats the
        # evaluated fit's learning-rate schedule: (share of its steps taken, each parameter
        # group's rate relative to its start) from that share of the budget on.
        self.replayed_lr_drops = [
            (float(share), [float(scale) for scale in scales])
            for share, scales in replayed_lr_drops
        ]
        # What this fit's scheduler did: [optimizer steps taken, each group's rate relative to
        # its start] at each change; saved with every checkpoint, so a resumed fit keeps them.
        # None: not known (a fit resumed from a checkpoint saved before they were kept).
        self.lr_drops: list[list[Any]] | None = []
        self._start_lrs: list[float] | None = None

    def on_train_start(self) -> None:
        if self._start_lrs is None:  # a resumed fit has them from its checkpoint
            self._start_lrs = [group["lr"] for group in self.optimizers().param_groups]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[LR_DROPS_KEY] = {"start": self._start_lrs, "drops": self.lr_drops}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(LR_DROPS_KEY)
        if saved is None:
            # Saved before the schedule was kept: its rates may already be lowered, from a start
            # it does not record, so the schedule is unknown (a refit keeps the starting rate).
            self._start_lrs, self.lr_drops = None, None
        else:
            drops = saved["drops"]
            self._start_lrs = saved["start"]
            self.lr_drops = None if drops is None else [list(drop) for drop in drops]

    def _replay_learning_rate(self, optimizer: Any) -> None:
        """Each group's learning rate as the evaluated fit had it at this share of its budget.
        The weights' group is always the first, so a refit that kept fewer candidates, and has
        no smoothing group, reads the first ratio of each change."""
        taken, budget = self.trainer.global_step, self.trainer.max_steps
        scales: list[float] = []
        for share, values in self.replayed_lr_drops:
            if taken >= round(share * budget):
                scales = values
        for index, (group, start) in enumerate(
            zip(optimizer.param_groups, self._start_lrs or (), strict=True)
        ):
            group["lr"] = start * (scales[index] if scales else 1.0)

    def _step_scheduler(self) -> None:
        """After each validation, not each epoch: with a step budget, epochs of a short series
        are a few steps long and validation runs only every few of them, so a per-epoch plateau
        check would see the same stale value again and again."""
        scheduler = self.lr_schedulers()
        if scheduler is None or self.trainer.sanity_checking:
            return
        groups = self.optimizers().param_groups
        before = [group["lr"] for group in groups]
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            value = self.trainer.callback_metrics.get(self.hparams.scheduler_monitor)
            if value is not None:
                scheduler.step(value)
        else:
            scheduler.step()
        now = [group["lr"] for group in groups]
        if now != before and self._start_lrs and self.lr_drops is not None:
            ratios = [lr / start for lr, start in zip(now, self._start_lrs, strict=True)]
            self.lr_drops.append([int(self.trainer.global_step), ratios])

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The network's weights at the optimizer's learning rate, and a statistical method's
        smoothing parameters (those a core names in `smoothing_parameters()`; theta's) at
        `method_lr_scale` times it: a few squashed parameters that the weights' rate would
        barely move in a fit's budget."""
        smoothing = [
            param
            for module in self.net.modules()
            if callable(getattr(module, "smoothing_parameters", None))
            for param in module.smoothing_parameters()
        ]
        lr = self.start_lr
        if not smoothing or lr is None:
            return [{"params": list(self.parameters())}]
        chosen = {id(param) for param in smoothing}
        weights = [param for param in self.parameters() if id(param) not in chosen]
        scaled = float(lr) * float(self.hparams.method_lr_scale)
        return [{"params": weights}, {"params": smoothing, "lr": scaled}]

    @property
    def start_lr(self) -> float | None:
        """The optimizer's own learning rate (a partial of its class with `lr`, as optim/ gives):
        `optim.lr`, or `optim.lr` x `train.warm_lr_scale` from a warm start; None where the
        partial leaves it to the class."""
        lr = getattr(self.optimizer_factory, "keywords", {}).get("lr")
        return None if lr is None else float(lr)
