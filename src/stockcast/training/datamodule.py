"""LightningDataModule over a prepared dataset: tensors in memory, batches by index gather.

Under DDP every rank holds the whole (small) series and iterates its own shard of the windows
(`WindowBatches`): training shards are equal, evaluation shards cover every window once.
"""

from __future__ import annotations

import lightning as L
import torch

from stockcast.data.mase_scales import scales_of_windows
from stockcast.data.prepared import PreparedData
from stockcast.errors import ConfigError
from stockcast.training.windows import WindowBatches, gather_windows


class WindowDataModule(L.LightningDataModule):
    """Serves raw-price windows (inputs then targets in one row); the model does the scaling."""

    def __init__(
        self,
        prepared: PreparedData,
        *,
        batch_size: int,
        steps_per_batch: int,
        eval_batch_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.prepared = prepared
        self.batch_size = batch_size
        self.steps_per_batch = steps_per_batch
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self._values = {
            name: torch.as_tensor(split.values, dtype=torch.float32)
            for name, split in prepared.splits.items()
        }
        self._starts = {
            name: split.window_starts(prepared.window) for name, split in prepared.splits.items()
        }
        # Each window's MASE scale: its own series' train one-step naive MAE, so a panel's
        # validation and test MASE weigh every series in its own units, as evaluate's does.
        train, previous = prepared.splits["train"], prepared.window.previous_time_window
        self._scales = {
            name: torch.as_tensor(
                scales_of_windows(train, split, self._starts[name] + previous),
                dtype=torch.float64,
            )
            for name, split in prepared.splits.items()
        }

    @property
    def window_length(self) -> int:
        return self.prepared.window.length

    def _rank_and_world(self) -> tuple[int, int]:
        """This process's place in the fit; (0, 1) outside a trainer (benchmarks, tests)."""
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def batches(self, split: str, *, train: bool = False) -> WindowBatches:
        rank, world_size = self._rank_and_world()
        return WindowBatches(
            self._values[split],
            self._starts[split],
            self.window_length,
            self.batch_size if train else self.eval_batch_size,
            steps_per_batch=self.steps_per_batch if train else 1,
            shuffle=train,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            equal_shards=train,
        )

    def window_scales(self, split: str, batch: int, windows: torch.Tensor) -> torch.Tensor | None:
        """The MASE scale of each window of the `batch`-th evaluation batch of `split` on this
        rank, in the batch's row order; None when `windows` are not that batch (a loader other
        than this datamodule's, e.g. `trainer.validate(dataloaders=...)` after a fit)."""
        batches = self.batches(split)
        positions = batches.positions(batch)
        expected = gather_windows(batches.values, batches.starts[positions], self.window_length)
        # In the batch's dtype: `trainer.precision` 16-true / bf16-true casts it before the step.
        found = windows.cpu()
        if expected.shape != found.shape or not torch.equal(expected.to(found.dtype), found):
            return None
        return self._scales[split][positions]

    def train_dataloader(self) -> WindowBatches:
        return self._train_batches

    def val_dataloader(self) -> WindowBatches:
        return self.batches("val")

    def test_dataloader(self) -> WindowBatches:
        return self.batches("test")

    def predict_dataloader(self) -> WindowBatches:
        return self.batches("test")

    def setup(self, stage: str) -> None:
        # One train iterable for the whole fit, so each epoch reshuffles with a new seed.
        if not hasattr(self, "_train_batches"):
            self._train_batches = self.batches("train", train=True)
            if self._train_batches.num_windows == 0:
                raise ConfigError(
                    f"{self._train_batches.world_size} training processes share "
                    f"{len(self._starts['train'])} training windows, so some would get none; "
                    "use fewer trainer.devices / trainer.num_nodes or a longer series."
                )
            # Every rank evaluates its own shard: one without a window fails in Lightning.
            world_size = self._train_batches.world_size
            for split in ("val", "test"):
                if world_size > 1 and len(self._starts[split]) < world_size:
                    raise ConfigError(
                        f"{world_size} training processes share {len(self._starts[split])} "
                        f"{split} windows, so some would get none; use fewer trainer.devices / "
                        "trainer.num_nodes or a longer series."
                    )
