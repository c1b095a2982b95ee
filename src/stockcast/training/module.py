"""The LightningModule: loss, metrics in price units (a panel's MASE in each series' own),
optimizer (its learning rates: `learning_rates.py`). The network knows none of this."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.metrics import pooled_errors
from stockcast.models.cores import fit_to_series
from stockcast.models.network import PriceForecaster
from stockcast.training.distributed import gather_rows
from stockcast.training.evaluated_recipe import LrDropShares
from stockcast.training.learning_rates import LearningRates
from stockcast.training.losses import (
    MemberOutputs,
    forecast_and_outputs,
    member_losses,
    outputs_loss,
)


class Forecaster(LearningRates):
    """Trains a PriceForecaster on batches of raw-price windows (inputs then targets per row).

    Training batches may be lists of minibatches: each one gets its own optimizer step (manual
    optimisation), so one Lightning step can carry many optimizer steps.
    """

    def __init__(
        self,
        net: PriceForecaster,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_monitor: str = "val/loss",
        mase_scale: float = 1.0,
        window_scale_power: float = 0.0,
        method_lr_scale: float = 1.0,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
        replayed_lr_drops: LrDropShares = (),
    ) -> None:
        super().__init__(replayed_lr_drops)
        self.save_hyperparameters(
            ignore=["net", "loss", "optimizer", "scheduler", "replayed_lr_drops"]
        )
        self.automatic_optimization = False
        self.net = net
        self.loss_fn = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.input_size = net.input_size
        self.horizon = net.horizon
        self._outputs: dict[
            str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, MemberOutputs]]
        ] = {}
        self._train_losses: list[torch.Tensor] = []

    def forward(self, prices: torch.Tensor) -> torch.Tensor:
        return self.net(prices)

    def on_fit_start(self) -> None:
        # A kind fitted on the series themselves (ets) fits on this fit's train split, after
        # any warm start: a refit or a fold fits on its own history.
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None:
            fit_to_series(self.net.core, datamodule.prepared.splits["train"].segments())

    def split_window(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return windows[:, : self.input_size], windows[:, self.input_size :]

    def training_loss(self, windows: torch.Tensor) -> torch.Tensor:
        """The loss one optimizer step minimises on a batch of windows (inputs then targets)."""
        inputs, targets = self.split_window(windows)
        return member_losses(
            self.net, inputs, targets, self.loss_fn, self.hparams.window_scale_power
        )

    def training_step(self, batch: torch.Tensor | list[torch.Tensor], batch_idx: int) -> None:
        optimizer = self.optimizers()
        minibatches = batch if isinstance(batch, list | tuple) else [batch]
        losses = []
        # Lightning checks max_steps only between its batches, each several optimizer steps
        # (data.steps_per_batch): the budget a refit or a fold repeats ends inside one.
        budget = self.trainer.max_steps
        for windows in minibatches:
            if 0 <= budget <= self.trainer.global_step:
                break
            loss = self.training_loss(windows)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            if self.replayed_lr_drops:
                self._replay_learning_rate(optimizer)
            if self.hparams.gradient_clip_val:
                # trainer.gradient_clip_val: Lightning clips only what it steps itself.
                self.clip_gradients(
                    optimizer,
                    gradient_clip_val=self.hparams.gradient_clip_val,
                    gradient_clip_algorithm=self.hparams.gradient_clip_algorithm or "norm",
                )
            optimizer.step()
            losses.append(loss.detach())
        # Accumulated and logged at each validation (about every fit.val_every_steps steps), not
        # per epoch: a short series has epochs of one step, and one tracking-store write per
        # epoch was a quarter of a daily fit's time.
        self._train_losses.extend(losses)

    def _shared_eval_step(self, stage: str, windows: torch.Tensor, batch_idx: int) -> None:
        """One step for val and test: price forecasts, each window's MASE scale for metrics and
        the member outputs the stage's loss is computed from when it ends."""
        # While fitting, the checkpoint, early stopping and the LR schedule judge every member's
        # forecast of every validation window; which members serve a window outside the fitted
        # range is decided after the fit, with the weights. Judged with that rule, fits kept
        # other steps on the benchmark's trending series, no better overall (README).
        fitting = stage == "val" and self._trainer is not None and self.trainer.state.fn == "fit"
        forecast, outputs = forecast_and_outputs(
            self.net, self.split_window(windows)[0], level_rule=not fitting
        )
        scales = self._window_scales(stage, batch_idx, windows)
        kept = tuple(part.detach() for part in outputs)
        self._outputs.setdefault(stage, []).append(
            (forecast.detach(), windows.detach(), scales, kept)
        )

    def _log_loss(
        self, stage: str, windows: torch.Tensor, outputs: list[MemberOutputs], distributed: bool
    ) -> None:
        """The stage's scaled loss over all its windows (every rank's): each window weighs
        relative to the mean scale of them all, not of its batch, so the value does not depend
        on `data.eval_batch_size`. Under DDP the value is the windows-weighted mean over ranks."""
        members = len(self.net.scalers)
        parts = [torch.cat(part, dim=1) for part in zip(*outputs, strict=True)] if outputs else None
        scale = parts[3] if parts else torch.empty((members, 0, 1), device=self.device)
        totals = torch.cat(
            [scale.sum(dim=1).flatten(), torch.tensor([scale.shape[1]], device=scale.device)]
        ).double()
        if distributed:
            totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        if not totals[-1]:
            return
        mean_scale = (totals[:-1] / totals[-1]).to(scale.dtype).reshape(members, 1, 1)
        loss = (
            outputs_loss(
                self.net,
                *self.split_window(windows),
                self.loss_fn,
                self.hparams.window_scale_power,
                tuple(parts),
                mean_scale,
            )
            if parts
            else torch.zeros((), device=self.device)
        )
        self.log(f"{stage}/loss", loss, batch_size=len(windows), sync_dist=True)

    def _window_scales(self, stage: str, batch_idx: int, windows: torch.Tensor) -> torch.Tensor:
        """Each window's MASE scale (CPU, float64): its own series' where the datamodule
        recognises the batch as its own (`WindowDataModule.window_scales`), else the pooled
        train scale."""
        # `_trainer`: None outside a Trainer, where the `trainer` property raises.
        lookup = getattr(getattr(self._trainer, "datamodule", None), "window_scales", None)
        scales = None if lookup is None else lookup(stage, batch_idx, windows)
        if scales is None:
            return torch.full((len(windows),), float(self.hparams.mase_scale), dtype=torch.float64)
        return scales

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self._shared_eval_step("val", batch, batch_idx)

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self._shared_eval_step("test", batch, batch_idx)

    def predict_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.net(self.split_window(batch)[0])

    def _log_epoch_metrics(self, stage: str) -> None:
        outputs = self._outputs.pop(stage, [])
        distributed = self.trainer.world_size > 1
        if not outputs and not distributed:
            return
        # Under DDP every rank computes the metrics of all windows (its shard is one block), so
        # MASE is the pooled one, not a mean of the ranks' values; a rank with no windows (from
        # a loader of its own: the datamodule refuses too few) still takes part in the gather.
        width = self.input_size + 2 * self.horizon
        rows = [torch.cat([w, f], dim=1) for f, w, _, _ in outputs]
        local = torch.cat(rows) if rows else torch.empty((0, width), device=self.device)
        local_scales = (
            torch.cat([s for _, _, s, _ in outputs])
            if rows
            else torch.empty(0, dtype=torch.float64)
        )
        self._log_loss(
            stage, local[:, : width - self.horizon], [m for *_, m in outputs], distributed
        )
        everything = gather_rows(local) if distributed else local
        if not len(everything):
            return
        # Gathered apart, in the rows' rank order, to stay float64 (a float32 column would
        # round); on the device only for the gather (an MPS device has no float64).
        if distributed:
            local_scales = gather_rows(local_scales.to(self.device)).cpu()
        scale = local_scales.numpy()
        windows = everything[:, : self.input_size + self.horizon].cpu().double().numpy()
        forecast = everything[:, self.input_size + self.horizon :].cpu().double().numpy()
        inputs, actual = windows[:, : self.input_size], windows[:, self.input_size :]
        metrics = {f"{stage}/{k}": v for k, v in pooled_errors(forecast, actual, scale).items()}
        naive = naive_forecast(inputs, actual.shape[1])
        metrics[f"{stage}/naive_mase"] = pooled_errors(naive, actual, scale)["mase"]
        # Every rank holds the same values; syncing keeps Lightning's epoch-level contract (and
        # costs nothing in one process, where DDP with one device would otherwise warn).
        # Non-finite values too (a diverged fit's NaN): left out, they were read as metrics never
        # computed, and the fit failed on the missing key instead of falling back to naive.
        self.log_dict({k: float(v) for k, v in metrics.items()}, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        # Inside the fit only: the validate run after it (the weighted model's metrics) would log
        # the losses of the steps after the fit's last validation, as read back, its val/loss.
        fitting = self.trainer.state.fn == "fit"
        if self._train_losses and fitting and not self.trainer.sanity_checking:
            # Mean optimizer-step loss since the previous validation (ranks averaged).
            self.log("train/loss", torch.stack(self._train_losses).mean(), sync_dist=True)
            self._train_losses.clear()
        self._log_epoch_metrics("val")
        self._log_optimizer_step()
        self._step_scheduler()

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")
        self._log_optimizer_step()

    def _log_optimizer_step(self) -> None:
        """The loggers chart a stage's metrics at the optimizer step (`global_step`), the one
        metrics.json, the checkpoints and `trainer.max_steps` count: Lightning's own step counts
        its batches, each holding `data.steps_per_batch` optimizer steps. A logged `step` is the
        one Lightning then charts at, and it no longer adds the epoch: logged beside it."""
        steps = {"step": float(self.global_step), "epoch": float(self.current_epoch)}
        self.log_dict(steps, sync_dist=True)

    @property
    def learns(self) -> bool:
        """Whether the network has weights to train (`PriceForecaster.learns`)."""
        return self.net.learns

    def configure_optimizers(self) -> Any:
        if not self.learns:
            return None  # the fit then runs no optimizer step (fit.py sets max_steps=0)
        optimizer = self.optimizer_factory(params=self.parameter_groups())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
