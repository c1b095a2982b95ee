"""When validation runs: about every fit.val_every_steps optimizer steps, short or long epochs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from omegaconf import OmegaConf

from stockcast.data.series import Series
from stockcast.data.split import split_series
from stockcast.forecasting.windows import WindowSizes
from stockcast.training.build import validation_schedule


def _datamodule(points: int, batch_size: int, steps_per_batch: int) -> SimpleNamespace:
    window = WindowSizes(10, 5)
    splits = split_series(
        [Series("s", np.linspace(1.0, 2.0, points))],
        window,
        {"train": 0.7, "val": 0.15, "test": 0.15},
    )
    prepared = SimpleNamespace(splits=splits, window=window)
    return SimpleNamespace(
        prepared=prepared, batch_size=batch_size, steps_per_batch=steps_per_batch
    )


def _cfg(max_epochs: int | None = None) -> object:
    return OmegaConf.create(
        {"fit": {"val_every_steps": 50}, "trainer": {"max_epochs": max_epochs, "devices": 1}}
    )


def test_short_epochs_validate_every_few_epochs() -> None:
    # 700 points -> 686 train windows, batch 32 -> 22 steps an epoch: every 2 epochs is ~50 steps.
    assert validation_schedule(_cfg(), _datamodule(1000, 32, 16)) == {"check_val_every_n_epoch": 2}
    assert validation_schedule(_cfg(1), _datamodule(1000, 32, 16)) == {"check_val_every_n_epoch": 1}


def test_a_long_epoch_validates_inside_it() -> None:
    # 70,000 train points at batch 32: ~2,200 steps an epoch; Lightning batches carry 16 steps,
    # so every 3 batches (48 steps) is the closest to 50.
    schedule = validation_schedule(_cfg(), _datamodule(100_000, 32, 16))
    assert schedule == {"check_val_every_n_epoch": 1, "val_check_interval": 3}
    assert validation_schedule(_cfg(), _datamodule(100_000, 32, 1))["val_check_interval"] == 50
