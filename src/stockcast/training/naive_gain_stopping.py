"""Stop a fit that keeps failing to beat the naive forecast: it would fall back to it anyway."""

from __future__ import annotations

from typing import Any

import lightning as L


class NaiveGainStopping(L.Callback):
    """After `patience` validations, stop when none of them beat "repeat the last price" by
    `min_gain` (the validation MASE ratio to naive never below 1 - min_gain).

    The fit's best checkpoint is then no better than that either, so the naive fallback
    (`fit.naive_fallback`, same threshold) replaces it with the last price: every further step
    would be thrown away. On a random walk that was most of a fit. Only anchored models have the
    fallback, so only their fits are stopped.
    """

    def __init__(self, min_gain: float, patience: int, enabled: bool = True) -> None:
        super().__init__()
        self.min_gain = float(min_gain)
        self.patience = int(patience)
        self.enabled = bool(enabled)
        self.validations = 0
        self.best_ratio = float("inf")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        net = getattr(pl_module, "net", None)
        if trainer.sanity_checking or not self.enabled or not getattr(net, "anchored", False):
            return
        metrics = trainer.callback_metrics
        if "val/mase" not in metrics or "val/naive_mase" not in metrics:
            return
        naive = float(metrics["val/naive_mase"])
        if naive <= 0:
            return
        self.validations += 1
        self.best_ratio = min(self.best_ratio, float(metrics["val/mase"]) / naive)
        # Every rank sees the same (gathered) metrics, so every rank decides alike under DDP.
        if self.validations >= self.patience and self.best_ratio > 1.0 - self.min_gain:
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"validations": self.validations, "best_ratio": self.best_ratio}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.validations = int(state_dict["validations"])
        self.best_ratio = float(state_dict["best_ratio"])
