"""The panel benchmark's peer part: NeuralForecast's MLP (the optional `.[peers]` extra) against
stockcast's `experiment=market_global`, both scored on stockcast's held-out test windows."""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from benchmarks.common import BenchOptions, Row, quiet_console
from benchmarks.panel.size import EXPERIMENT, PANEL_DAYS, panel_overrides
from stockcast.config.compose import local_store_overrides

PEER_SPEEDUP_TARGET = 10.0  # × faster fit than NeuralForecast's MLP, at equal or better MASE
# NeuralForecast's MLP at stockcast's size (market_global's two hidden layers of 64), to separate
# what the model's width costs from what each framework costs per step.
PEER_SMALL_HIDDEN = 64
PEER_SMALL_LAYERS = 2


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
