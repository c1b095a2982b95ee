"""Prediction benchmarks for `make bench`: start-up of scripts/predict.py, one forecast, and
batch prediction over many series.

`bench_predict(opts)` returns rows for the bench table. It builds a throwaway registered model in
a temporary store first (the fast pipeline settings below), so it never touches the user's store.
Targets: the script's wall time within 1.5x of `import torch, mlflow`, which
it cannot avoid; one forecast through the loaded model under 1 ms; and for many tickers, one
call forecasting 5,000 series from a long CSV within 1.3x of the single-series call; signing the
model's folder and verifying its signature under 1 s each (benchmarks/signing.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import BenchOptions, Row, forecast_seconds, quiet_environment
from benchmarks.signing import signing_rows
from benchmarks.startup import wall_time
from stockcast.config.compose import compose_config, local_store_overrides
from stockcast.paths import PROJECT_ROOT

PREDICT_SCRIPT = PROJECT_ROOT / "scripts" / "predict.py"
REFERENCE_IMPORTS = "import torch, mlflow"
WALL_RATIO_TARGET = 1.5
FORECAST_TARGET_S = 1e-3
FORECAST_CALLS = 2000
BATCH_RATIO_TARGET = 1.3
# Just enough training for a registered model; the bench measures prediction, not accuracy.
THROWAWAY_PIPELINE = (
    "data.length=400",
    "trainer.max_epochs=1",
    "data.batch_size=32",
    "gate.max_mase=1000",
    "gate.max_mase_vs_naive=null",
)


def register_throwaway_model(store: Path) -> None:
    wall_time(
        [
            "-m",
            "stockcast.orchestration.runner",
            *THROWAWAY_PIPELINE,
            *local_store_overrides(store),
        ],
        1,
    )


def predict_wall_times(store: Path, repeats: int) -> tuple[float, float]:
    """Median wall time of the reference imports and of one predict run, interleaved so load
    drift on a shared machine hits both alike."""
    values = ",".join(f"{100 + i:.1f}" for i in range(64))
    predict = [
        str(PREDICT_SCRIPT),
        *local_store_overrides(store),
        f"hydra.run.dir={store}/predict_run",
        f"input.values=[{values}]",
    ]
    reference, script = [], []
    for _ in range(repeats):
        reference.append(wall_time(["-c", REFERENCE_IMPORTS], 1))
        script.append(wall_time(predict, 1))
    return float(np.median(reference)), float(np.median(script))


def panel_csv(path: Path, series: int, days: int, seed: int = 0) -> Path:
    """A long file (Date, Ticker, Close) of `series` random walks over the same business days."""
    import pandas as pd

    dates = pd.bdate_range("2015-01-01", periods=days).strftime("%Y-%m-%d")
    steps = np.random.default_rng(seed).normal(0, 0.01, (series, days))
    frame = pd.DataFrame(
        {
            "Date": np.tile(dates, series),
            "Ticker": np.repeat([f"T{i:05d}" for i in range(series)], days),
            "Close": (100 * np.exp(np.cumsum(steps, axis=1))).ravel(),
        }
    )
    frame.to_csv(path, index=False)
    return path


def batch_wall_times(
    store: Path, repeats: int, cases: Sequence[tuple[int, int]]
) -> tuple[float, dict[tuple[int, int], float]]:
    """Median wall time of the single-series call and of each batch case, interleaved."""
    common = [str(PREDICT_SCRIPT), *local_store_overrides(store), "input=csv"]
    one_series = panel_csv(store / "one_series.csv", 1, cases[0][1])
    single = [*common, f"hydra.run.dir={store}/single_run", f"input.path={one_series}"]
    files = {case: panel_csv(store / f"panel_{case[0]}x{case[1]}.csv", *case) for case in cases}
    single_s: list[float] = []
    batch_s: dict[tuple[int, int], list[float]] = {case: [] for case in cases}
    for _ in range(repeats):
        single_s.append(wall_time(single, 1))
        for case, path in files.items():
            batch = [
                *common,
                f"hydra.run.dir={store}/batch_run",
                f"input.path={path}",
                "input.id_column=Ticker",
            ]
            batch_s[case].append(wall_time(batch, 1))
    return float(np.median(single_s)), {c: float(np.median(t)) for c, t in batch_s.items()}


def batch_rows(single_s: float, batch_s: dict[tuple[int, int], float], repeats: int) -> list[Row]:
    """The single-series reference, then each case against it (the most series' is judged)."""
    cases = list(batch_s)
    judged = max(series for series, _ in cases)
    rows = [
        Row(
            "predict",
            f"scripts/predict.py input=csv, 1 series × {cases[0][1]} days (reference)",
            single_s,
            "s",
            1.0,
            note=f"median of {repeats} subprocesses",
        )
    ]
    for (series, days), seconds in batch_s.items():
        ratio = seconds / single_s
        targeted = series == judged
        rows.append(
            Row(
                "predict",
                f"batch: {series:,} series × {days:,} days, one call (input.id_column)",
                seconds,
                "s",
                ratio,
                target=f"≤ {BATCH_RATIO_TARGET}×" if targeted else "",
                met=ratio <= BATCH_RATIO_TARGET if targeted else None,
                note="ratio: × the single-series call; read + forecast + write every id",
            )
        )
    return rows


def forecast_latency(store: Path, calls: int = FORECAST_CALLS) -> float:
    """Median seconds of one single-window forecast through the opened model, warm. The model
    is opened as predict opens it: with the registry and signing keys of the predict config (the
    version was registered with the keys the config names)."""
    from stockcast.registry.store import ModelRegistry
    from stockcast.serving.model import open_version

    quiet_environment()
    cfg = compose_config("predict", local_store_overrides(store))
    registry = ModelRegistry.from_config(cfg.registry)
    model = open_version(registry, registry.resolve(), store / "model")
    window = np.linspace(100.0, 101.0, model.previous_time_window)
    return forecast_seconds(model, window, calls, warm_calls=min(calls, 50))


def bench_predict(opts: BenchOptions) -> list[Row]:
    """Rows for the bench table (`opts.startup_repeats` subprocess pairs)."""
    repeats = max(1, opts.startup_repeats)
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-predict-") as tmp:
        store = Path(tmp)
        register_throwaway_model(store)
        reference_s, predict_s = predict_wall_times(store, repeats)
        latency_s = forecast_latency(store)
        signing = signing_rows(store)
        single_s, batch_s = batch_wall_times(store, repeats, opts.batch_cases)
    ratio = predict_s / reference_s
    return [
        Row(
            "predict",
            f'python -c "{REFERENCE_IMPORTS}" (reference)',
            reference_s,
            "s",
            1.0,
            note=f"median of {repeats} subprocesses",
        ),
        Row(
            "predict",
            "scripts/predict.py, one forecast (input.values)",
            predict_s,
            "s",
            ratio,
            target=f"≤ {WALL_RATIO_TARGET}×",
            met=ratio <= WALL_RATIO_TARGET,
            note="ratio: × the reference; resolve + download + load + forecast + write",
        ),
        Row(
            "predict",
            "one forecast through the loaded pyfunc (1 window)",
            latency_s,
            "s",
            target=f"< {FORECAST_TARGET_S * 1e3:g} ms",
            met=latency_s < FORECAST_TARGET_S,
            note=f"median of {FORECAST_CALLS} warm calls",
        ),
        *batch_rows(single_s, batch_s, repeats),
        *signing,
    ]
