"""Training throughput: the real `Trainer.fit` path against a bare PyTorch loop on the same net."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig

from benchmarks.common import BenchOptions, Row, compose_train_cfg, median, quiet_console

THROUGHPUT_TARGET = 0.8  # × the bare loop, at the project's batch size


@dataclass
class Setup:
    cfg: DictConfig
    prepared: Any
    windows: torch.Tensor  # every train window, materialised: the bare loop's "data in memory"


def train_cfg(opts: BenchOptions) -> DictConfig:
    """The benchmark's train config: a GBM of `train_points` values, with the overrides."""
    return compose_train_cfg(
        [
            "data=gbm",
            f"data.length={opts.train_points}",
            "logger=none",
            "callbacks=none",
            *opts.overrides,
        ]
    )


def check_train_points(opts: BenchOptions) -> None:
    """Refuse a series (`--train-points`) too short for a window in each split: `make bench`
    checks before its first benchmark, and names the flag (the data check named data.length,
    which the bench sets from it; 0 points stopped it with an IndexError)."""
    from stockcast.data.known_data import shortest_sizes
    from stockcast.data.split import min_series_length

    data = train_cfg(opts).data
    needed = min_series_length(shortest_sizes(data), data.split)
    if opts.train_points < needed:
        raise ValueError(
            f"--train-points {opts.train_points} is too few points for a window of "
            f"{shortest_sizes(data).length} values in each of the train, validation and test "
            f"splits; give at least {needed}"
        )


def make_setup(opts: BenchOptions) -> Setup:
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.training.runtime import set_threads
    from stockcast.training.windows import gather_windows

    cfg = train_cfg(opts)
    set_threads(cfg.num_threads)
    prepared = prepare_data(plain(cfg.data))
    train = prepared.splits["train"]
    values = torch.as_tensor(train.values, dtype=torch.float32)
    starts = torch.as_tensor(train.window_starts(prepared.window))
    windows = gather_windows(values, starts, prepared.window.length).contiguous()
    return Setup(cfg, prepared, windows)


def _datamodule_and_model(setup: Setup, steps_per_batch: int | None = None) -> tuple[Any, Any]:
    """Exactly what training builds (`build_datamodule_and_model`), from the bench config."""
    from stockcast.training.build import build_datamodule_and_model

    datamodule, model, _ = build_datamodule_and_model(setup.cfg, setup.prepared, steps_per_batch)
    return datamodule, model


Timing = tuple[float, float]  # (wall seconds, process CPU seconds) of one epoch


def bare_loop_epoch_times(setup: Setup, epochs: int) -> list[Timing]:
    """Shuffled minibatches of pre-built windows, Adam from the config: nothing but the maths."""
    import hydra
    import lightning as L

    cfg = setup.cfg
    L.seed_everything(cfg.seed, verbose=False)
    _, model = _datamodule_and_model(setup)
    net = model.net
    optimizer = hydra.utils.instantiate(cfg.optim.optimizer)(params=net.parameters())
    windows, batch_size = setup.windows, int(cfg.data.batch_size)
    generator = torch.Generator().manual_seed(int(cfg.seed))
    net.train()
    times = []
    for _ in range(epochs):
        begin, cpu = time.perf_counter(), time.process_time()
        order = torch.randperm(len(windows), generator=generator)
        for first in range(0, len(windows), batch_size):
            batch = windows[order[first : first + batch_size]]
            loss = model.training_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        times.append((time.perf_counter() - begin, time.process_time() - cpu))
    return times


def _epoch_timer() -> Any:
    import lightning as L

    class EpochTimer(L.Callback):
        """Wall time of each training epoch (validation included when it runs)."""

        def __init__(self) -> None:
            self.times: list[Timing] = []
            self._begin = (0.0, 0.0)

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self._begin = (time.perf_counter(), time.process_time())

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            wall, cpu = self._begin
            self.times.append((time.perf_counter() - wall, time.process_time() - cpu))

    return EpochTimer()


def lightning_epoch_times(
    setup: Setup,
    epochs: int,
    *,
    steps_per_batch: int | None = None,
    naive_loader: bool = False,
    validate: bool = False,
) -> list[Timing]:
    """The project's fit path: WindowDataModule + Forecaster + the configured Trainer.

    Differences from `run_training`: no logger, no checkpointing, no callbacks but a timer, and
    (unless `validate`) no validation, so the numbers are training throughput.
    `naive_loader` feeds the same windows through DataLoader(TensorDataset) instead.
    """
    import hydra
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from stockcast.training.build import CLIPPED_BY_THE_MODULE

    quiet_console()
    cfg = setup.cfg
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, model = _datamodule_and_model(setup, steps_per_batch)
    timer = _epoch_timer()
    extra: dict[str, Any] = {} if validate else {"limit_val_batches": 0, "num_sanity_val_steps": 0}
    trainer = hydra.utils.instantiate(
        cfg.trainer,
        max_epochs=epochs,
        min_epochs=1,
        logger=False,
        enable_checkpointing=False,
        callbacks=[timer],
        **extra,
        **CLIPPED_BY_THE_MODULE,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if naive_loader:
            loader = DataLoader(
                TensorDataset(setup.windows), batch_size=int(cfg.data.batch_size), shuffle=True
            )
            trainer.fit(model, train_dataloaders=loader)
        else:
            trainer.fit(model, datamodule=datamodule)
    return timer.times


def bench_training(opts: BenchOptions) -> list[Row]:
    """Every variant runs in each of `train_rounds` interleaved rounds (one warm-up epoch, then
    `train_repeats` timed epochs); per variant, the median over all timed epochs. Interleaving
    spreads other load on the machine evenly; process CPU time is shown too, as a cross-check.
    """
    setup = make_setup(opts)
    cfg = setup.cfg
    n_windows = len(setup.windows)
    epochs = opts.train_repeats + 1
    default_spb = int(cfg.data.steps_per_batch)
    batch = int(cfg.data.batch_size)
    variants: dict[str, Callable[[], list[Timing]]] = {
        "bare PyTorch loop (reference)": lambda: bare_loop_epoch_times(setup, epochs),
        f"Trainer.fit, steps_per_batch={default_spb} (config)": lambda: lightning_epoch_times(
            setup, epochs
        ),
        "Trainer.fit, steps_per_batch=1": lambda: lightning_epoch_times(
            setup, epochs, steps_per_batch=1
        ),
        "Trainer.fit, DataLoader(TensorDataset)": lambda: lightning_epoch_times(
            setup, epochs, naive_loader=True
        ),
    }
    timed: dict[str, list[Timing]] = {name: [] for name in variants}
    for _ in range(opts.train_rounds):
        for name, run in variants.items():
            timed[name] += run()[1:]
    if opts.with_validation:
        name = f"Trainer.fit, steps_per_batch={default_spb}, validating every epoch"
        timed[name] = lightning_epoch_times(setup, epochs, validate=True)[1:]

    wall = {name: median([w for w, _ in t]) for name, t in timed.items()}
    cpu = {name: median([c for _, c in t]) for name, t in timed.items()}
    reference = next(iter(variants))
    context = (
        f"{n_windows:,} train windows of {cfg.data.previous_time_window}+"
        f"{cfg.data.next_time_window}, batch {batch}, threads {cfg.num_threads}, median of "
        f"{opts.train_rounds}×{opts.train_repeats} epochs (wall {wall[reference] * 1e3:.0f} ms, "
        f"CPU {cpu[reference] * 1e3:.0f} ms per epoch)"
    )
    rows = []
    for index, name in enumerate(timed):
        ratio = wall[reference] / wall[name]
        cpu_ratio = cpu[reference] / cpu[name]
        headline = index == 1
        if index == 0:
            note = context
        elif headline:
            note = (
                f"the project's path, validation off; CPU-time ratio {cpu_ratio:.2f}× (judged: "
                "single-threaded, so it is what wall time would be on an unshared machine)"
            )
        elif name in variants:
            note = f"for reference; CPU-time ratio {cpu_ratio:.2f}×"
        else:
            note = (
                f"one fit; epoch time incl. validation + metrics; CPU-time ratio {cpu_ratio:.2f}×"
            )
        rows.append(
            Row(
                "train",
                name,
                n_windows / wall[name],
                "windows/s",
                ratio,
                target=f"≥ {THROUGHPUT_TARGET}× bare (CPU)" if headline else "",
                met=cpu_ratio >= THROUGHPUT_TARGET if headline else None,
                note=note,
            )
        )
    return rows
