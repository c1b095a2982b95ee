"""The panel benchmark's train part: windows/s of the global model over the panel against the
single-series path, same optimizer steps and batch for every case."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import BenchOptions, Row, compose_train_cfg, median, quiet_console
from benchmarks.panel.size import PANEL_DAYS, panel_overrides

WARMUP_STEPS = 32  # one untimed short fit first, so no timed case pays Lightning's first-fit costs


def fit_throughput(cfg: Any, prepared: Any, batch_size: int, steps: int) -> tuple[int, float, int]:
    """(windows trained on, fit seconds, optimizer steps) of one validation-free fit of `steps`."""
    import hydra
    import lightning as L

    from benchmarks.fit_timer import FitTimer
    from stockcast.training.build import CLIPPED_BY_THE_MODULE, build_datamodule_and_model

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, model, _ = build_datamodule_and_model(cfg, prepared, batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-panel-") as tmp:
        timer = FitTimer(str(Path(tmp) / "fit_timing.json"))
        trainer = hydra.utils.instantiate(
            cfg.trainer,
            max_steps=steps,
            max_epochs=-1,
            logger=False,
            enable_checkpointing=False,
            callbacks=[timer],
            limit_val_batches=0,
            num_sanity_val_steps=0,
            **CLIPPED_BY_THE_MODULE,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(model, datamodule=datamodule)
        timing = json.loads(timer.path.read_text())
    return int(timing["windows"]), float(timing["fit_s"]), int(trainer.global_step)


def _long_series_data(data_cfg: dict[str, Any], series: list[Any], folder: Path) -> dict[str, Any]:
    """The panel's tickers laid end to end as one undated series in a Parquet file, read back
    through the file source: the single-series path with the panel's point count. Windows that
    straddle two tickers see a jump; throughput does not depend on the values."""
    import pandas as pd

    path = folder / "one_long_series.parquet"
    pd.DataFrame({"value": np.concatenate([item.values for item in series])}).to_parquet(path)
    return data_cfg | {
        "source": "parquet",
        "format": "parquet",
        "path": str(path),
        "date_column": None,
        "id_column": None,
        "value_column": "value",
    }


def train_rows(opts: BenchOptions) -> list[Row]:
    """Interleaved rounds over the cases (`opts.train_rounds`); per case, the median windows/s."""
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.data.sources import load_series
    from stockcast.training.runtime import set_threads

    quiet_console()
    series = opts.panel_series
    cfg = compose_train_cfg(
        panel_overrides(series, ["logger=none", "callbacks=none", *opts.overrides])
    )
    set_threads(cfg.num_threads)
    batch, steps = int(cfg.data.batch_size), int(cfg.trainer.max_steps)
    panel_data = plain(cfg.data)
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-panel-") as tmp:
        long_data = _long_series_data(panel_data, load_series(panel_data), Path(tmp))
        prepared = {
            f"one series of {series * PANEL_DAYS:,} values (reference)": prepare_data(long_data),
            f"global model, {series:,} tickers × {PANEL_DAYS:,} days": prepare_data(panel_data),
            f"one ticker × {PANEL_DAYS:,} days": prepare_data(panel_data | {"num_series": 1}),
        }
    fit_throughput(cfg, next(iter(prepared.values())), batch, WARMUP_STEPS)
    runs: dict[str, list[tuple[int, float, int]]] = {name: [] for name in prepared}
    for _ in range(opts.train_rounds):
        for name, data in prepared.items():
            runs[name].append(fit_throughput(cfg, data, batch, steps))
    speed = {name: median([w / s for w, s, _ in got]) for name, got in runs.items()}
    reference = next(iter(prepared))
    rows = []
    for name, data in prepared.items():
        windows, _, done = runs[name][-1]
        per_epoch = len(data.splits["train"].window_starts(data.window))
        note = (
            f"{per_epoch:,} train windows per epoch; {done} optimizer steps of batch {batch}, "
            f"{windows:,} windows (market_global's max_steps={steps}; a Lightning batch carries "
            f"up to {cfg.data.steps_per_batch} steps, so a fit can end a few past it); median "
            f"of {opts.train_rounds}, validation off, {cfg.num_threads} thread(s)"
        )
        if name == reference:
            note += "; the panel's tickers end to end, through data=parquet"
        elif "ticker ×" in name:
            note += (
                f"; batch held at {batch} (training would shrink it to fit.min_batches_per_epoch"
                " steps per epoch), so per-epoch overhead is what differs"
            )
        rows.append(
            Row(
                "panel",
                f"train: {name}",
                speed[name],
                "windows/s",
                speed[name] / speed[reference],
                note=note,
            )
        )
    return rows
