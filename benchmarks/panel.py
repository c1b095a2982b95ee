"""Many tickers (issue 13, item 6): the synthetic market panel through prepare, training and a peer.

At full size the panel is the issue's 500 tickers × 2,520 business days (1.26 M points) of
`experiment=market_global`; `--quick` shrinks the ticker count (`BenchOptions.panel_series`).

- prepare: `prepare_data` on the panel in a fresh subprocess, so that what earlier benchmarks left
  on the heap neither hides nor inflates its peak (peak RSS delta, `common.peak_memory`).
- train: windows/s of the global model over the panel against the single-series path, built from
  what `benchmarks/training.py` uses (`build_datamodule_and_model`, the configured Trainer), same
  optimizer steps and batch for every case.
- peer: NeuralForecast's MLP (the optional `.[peers]` extra) against stockcast's
  `experiment=market_global`, both scored on stockcast's held-out test windows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from benchmarks.common import (
    BenchOptions,
    Row,
    command_failure,
    compose_train_cfg,
    median,
    quiet_console,
)
from stockcast.config.compose import local_store_overrides
from stockcast.paths import PROJECT_ROOT

EXPERIMENT = "market_global"
PANEL_DAYS = 2520  # ten years of business days per ticker: the size
# Pinned so the panel is the same every day (data.as_of defaults to today, which would slide the
# trailing 2,520-day window); 2015-01-01 to here holds 2,609 business days, enough for PANEL_DAYS.
PANEL_AS_OF = "2024-12-31"
PREPARE_REPEATS = 3  # in the subprocess: median time, largest peak
WARMUP_STEPS = 32  # one untimed short fit first, so no timed case pays Lightning's first-fit costs
PEER_SPEEDUP_TARGET = 10.0  # × faster fit than NeuralForecast's MLP, at equal or better MASE
# NeuralForecast's MLP at stockcast's size (market_global's two hidden layers of 64), to separate
# what the model's width costs from what each framework costs per step.
PEER_SMALL_HIDDEN = 64
PEER_SMALL_LAYERS = 2


def panel_overrides(series: int, extra: Sequence[str] = ()) -> list[str]:
    return [
        f"experiment={EXPERIMENT}",
        f"data.num_series={series}",
        f"data.length={PANEL_DAYS}",
        f"data.as_of={PANEL_AS_OF}",
        *extra,
    ]


# --- prepare ------------------------------------------------------------------------------------


def measure_prepare(series: int, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """`prepare_data` on the panel, `PREPARE_REPEATS` times in this process (run it in a fresh one)."""
    from benchmarks.common import fix_malloc_for_rss, peak_memory
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data

    fix_malloc_for_rss()
    data_cfg = plain(compose_train_cfg(panel_overrides(series, overrides)).data)
    seconds, peaks, method, meta = [], [], "", {}
    for _ in range(PREPARE_REPEATS):
        with peak_memory() as mem:
            prepared = prepare_data(data_cfg)
        seconds.append(mem.seconds)
        peaks.append(mem.peak_bytes)
        method, meta = mem.method, prepared.meta
        del prepared
    return {
        "seconds": seconds,
        "peak_bytes": peaks,
        "method": method,
        "points": meta["n_points"],
        "windows": meta["n_windows"],
    }


def prepare_rows(opts: BenchOptions) -> list[Row]:
    args = [sys.executable, "-m", "benchmarks.panel", "prepare", str(opts.panel_series)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [*args, *opts.overrides], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise command_failure("the prepare measurement", result)
    got = json.loads(result.stdout.strip().splitlines()[-1])
    points = int(got["points"])
    values_bytes = points * np.dtype(np.float64).itemsize
    size = f"{opts.panel_series:,} × {PANEL_DAYS:,} market panel ({points:,} points)"
    windows = "/".join(f"{got['windows'][s]:,}" for s in ("train", "val", "test"))
    return [
        Row(
            "panel",
            f"prepare_data, {size}",
            median(got["seconds"]),
            "s",
            note=(
                f"median of {PREPARE_REPEATS} in a fresh subprocess: generate, split, scale; "
                f"{windows} train/val/test windows"
            ),
        ),
        Row(
            "panel",
            "prepare_data, peak memory",
            float(max(got["peak_bytes"])),
            "B",
            ratio=max(got["peak_bytes"]) / values_bytes,
            note=(
                f"{got['method']}, largest of {PREPARE_REPEATS}; ratio: × the panel's float64 "
                f"values ({values_bytes / 2**20:.1f} MiB); the generator draws every business day "
                "since data.start_date before the length cap"
            ),
        ),
    ]


# --- train throughput ---------------------------------------------------------------------------


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


# --- peer: NeuralForecast's MLP -----------------------------------------------------------------


def held_out_windows(prepared: Any) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) of stockcast's test windows, ticker by ticker, origins in time order."""
    origins = prepared.splits["test"].origins(prepared.window)
    return origins.inputs, origins.actual


def held_out_scales(prepared: Any) -> np.ndarray:
    """The MASE scale of each `held_out_windows` window: its ticker's train one-step naive MAE,
    so the panel is scored in each ticker's own units, as the product judges a panel (pooled in
    prices, the dearest tickers would decide alone)."""
    from stockcast.data.mase_scales import scales_of_windows

    test, window = prepared.splits["test"], prepared.window
    # Each window's first target, without building the windows again.
    origins = test.window_starts(window) + window.previous_time_window
    return scales_of_windows(prepared.splits["train"], test, origins)


class PanelFit(NamedTuple):
    """stockcast's fit of the panel and what the peer comparison reads from it."""

    seconds: float  # prepare + fit + export + forecasting every test window
    forecast: np.ndarray
    prepared: Any
    fell_back: bool  # to the naive forecast
    cfg: Any  # the composed train config the fit ran


def stockcast_fit(opts: BenchOptions, folder: Path) -> PanelFit:
    """`experiment=market_global` as `src/train.py` runs it (prepare, fit with validation, early
    stopping and the naive fall-back check, export), then its forecasts for every test window
    through the exported model."""
    from omegaconf import open_dict

    from stockcast.config.compose import compose_config
    from stockcast.config.schema import validate_config
    from stockcast.data.prepared import PreparedData
    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.serving.model import open_model_dir
    from stockcast.training.training_run import run_training

    cfg = compose_config(
        "train",
        panel_overrides(
            opts.panel_series,
            ["logger=none", "test=false", *local_store_overrides(folder), *opts.overrides],
        ),
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(folder / "run")
    validate_config(cfg)
    quiet_console()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        begin = time.perf_counter()
        prepared = PreparedData.load(run_prepare(cfg, folder / "run" / "prepared"))
        summary = run_training(cfg, prepared, folder / "run", folder / "run" / "model")
        inputs, _ = held_out_windows(prepared)
        model = open_model_dir(folder / "run" / "model")
        forecast, _ = model.forecast(inputs)
    seconds = time.perf_counter() - begin
    return PanelFit(seconds, forecast, prepared, bool(summary["fell_back_to_naive"]), cfg)


def neuralforecast_fit(
    prepared: Any, folder: Path, **model_args: Any
) -> tuple[float, np.ndarray, np.ndarray]:
    """NeuralForecast's MLP fitted once and rolled over the test windows (cross_validation,
    refit=False). Returns (seconds, forecasts, the targets it scored against)."""
    import pandas as pd
    import torch
    from neuralforecast import NeuralForecast
    from neuralforecast.models import MLP

    quiet_console()
    window = prepared.window
    per_series = np.diff(prepared.splits["test"].offsets) - window.length + 1
    if len(set(per_series.tolist())) != 1:
        raise ValueError("the peer needs every ticker to have the same number of test windows")
    ids = list(prepared.splits["train"].series_ids)
    splits = [prepared.splits[name] for name in ("train", "val", "test")]
    # Each ticker's whole history again (val and test segments start with `context` copied values).
    values = [np.concatenate([s.segment(i)[s.context :] for s in splits]) for i in range(len(ids))]
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, [len(v) for v in values]),
            "ds": np.concatenate([np.arange(len(v)) for v in values]),
            "y": np.concatenate(values),
        }
    )
    quiet = {
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "default_root_dir": str(folder),
    }
    model = MLP(
        h=window.next_time_window, input_size=window.previous_time_window, **model_args, **quiet
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)  # torch's own default: stockcast's runs set 1
    try:
        begin = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cv = NeuralForecast(models=[model], freq=1).cross_validation(
                df=frame, n_windows=int(per_series[0]), step_size=1, refit=False
            )
        seconds = time.perf_counter() - begin
    finally:
        torch.set_num_threads(threads)
    cv = cv.sort_values(["unique_id", "cutoff", "ds"])
    shape = (-1, window.next_time_window)
    return seconds, cv["MLP"].to_numpy().reshape(shape), cv["y"].to_numpy().reshape(shape)


def peer_rows(opts: BenchOptions) -> list[Row]:
    from stockcast.forecasting.baselines import naive_forecast
    from stockcast.forecasting.metrics import pooled_errors

    size = f"{opts.panel_series:,} × {PANEL_DAYS:,}"
    try:
        import neuralforecast  # noqa: F401
    except ImportError:
        return [
            Row(
                "panel",
                f"NeuralForecast MLP vs stockcast, {size} panel",
                None,
                "s",
                note="neuralforecast is not installed (pip install -e '.[peers]'): not measured",
            )
        ]
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-panel-peer-") as tmp:
        folder = Path(tmp)
        ours = stockcast_fit(opts, folder / "stockcast")
        prepared, cfg = ours.prepared, ours.cfg
        inputs, targets = held_out_windows(prepared)
        steps = {} if opts.panel_peer_steps is None else {"max_steps": opts.panel_peer_steps}
        default_s, default_fc, peer_targets = neuralforecast_fit(prepared, folder / "nf", **steps)
        if not np.allclose(peer_targets, targets):
            raise RuntimeError("NeuralForecast's cross-validation windows are not stockcast's")
        small_s, small_fc, _ = neuralforecast_fit(
            prepared,
            folder / "nf_small",
            hidden_size=PEER_SMALL_HIDDEN,
            num_layers=PEER_SMALL_LAYERS,
            max_steps=int(cfg.trainer.max_steps),
            windows_batch_size=int(cfg.data.batch_size),
        )

    scales = held_out_scales(prepared)

    def mase(forecast: np.ndarray) -> float:
        return pooled_errors(forecast, targets, scales)["mase"]

    ours_mase, default_mase = mase(ours.forecast), mase(default_fc)
    naive_mase = mase(naive_forecast(inputs, targets.shape[1]))
    judged = opts.panel_peer_steps is None
    speedup = default_s / ours.seconds
    held_out = f"{len(targets):,} test windows"
    fallback = (
        "fell back to the naive forecast (on this random-walk panel nothing beats it on "
        "validation), so its MASE is naive's"
        if ours.fell_back
        else "kept its trained network"
    )
    default_steps = "its defaults (hidden 1024×2, 1,000 steps, identity scaler)"
    if not judged:
        default_steps = (
            f"max_steps={opts.panel_peer_steps}, not its default 1,000 (quick size): "
            "not judged, the target is judged at full size"
        )
    return [
        Row(
            "panel",
            f"peer: stockcast {EXPERIMENT}, {size} panel",
            ours.seconds,
            "s",
            1.0,
            note=(
                f"MASE {ours_mase:.4f} on {held_out}, each in its ticker's units (naive "
                f"{naive_mase:.4f}); {fallback}; "
                "time: prepare + fit (validation, early stopping, fall-back check) + export + "
                f"forecasting the test windows, {cfg.num_threads} thread(s)"
            ),
        ),
        Row(
            "panel",
            "peer: NeuralForecast MLP",
            default_s,
            "s",
            speedup,
            target=f"≥ {PEER_SPEEDUP_TARGET:g}×, MASE ≥ stockcast's" if judged else "",
            met=(speedup >= PEER_SPEEDUP_TARGET and ours_mase <= default_mase) if judged else None,
            note=(
                f"MASE {default_mase:.4f} on the same windows; ratio: its time ÷ stockcast's; "
                f"{default_steps}; time: cross_validation (fit once on train+val, more data "
                f"than stockcast's train split, then the test windows), {os.cpu_count()} torch "
                "thread(s)"
            ),
        ),
        Row(
            "panel",
            "peer: NeuralForecast MLP at stockcast's size (for reference)",
            small_s,
            "s",
            small_s / ours.seconds,
            note=(
                f"MASE {mase(small_fc):.4f}; hidden {PEER_SMALL_HIDDEN}×{PEER_SMALL_LAYERS}, "
                f"{int(cfg.trainer.max_steps)} steps of {int(cfg.data.batch_size)} windows as "
                "market_global; ratio: its time ÷ stockcast's"
            ),
        ),
    ]


def bench_panel(opts: BenchOptions) -> list[Row]:
    parts: Sequence[Callable[[BenchOptions], list[Row]]] = (prepare_rows, train_rows, peer_rows)
    return [row for part in parts for row in part(opts)]


if __name__ == "__main__":
    # `python -m benchmarks.panel prepare SERIES [overrides...]`: the prepare measurement, one
    # JSON line, for `prepare_rows`' fresh subprocess.
    if len(sys.argv) < 3 or sys.argv[1] != "prepare":
        raise SystemExit("usage: python -m benchmarks.panel prepare SERIES [overrides...]")
    print(json.dumps(measure_prepare(int(sys.argv[2]), sys.argv[3:])))
