"""The evaluate step's plots: the best and worst series' rolling forecasts, the MASE
distribution over a panel's series and the error by horizon step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from stockcast.data.prepared import PreparedData
from stockcast.errors import counted
from stockcast.evaluation.plots import (
    plot_error_by_horizon,
    plot_mase_by_series,
    plot_rolling_forecasts,
)
from stockcast.evaluation.series_scores import best_and_worst
from stockcast.files import file_name_parts
from stockcast.forecasting.intervals import Bands
from stockcast.forecasting.windows import RollingOrigins

# The error a panel's error_by_horizon.png draws.
PANEL_MASE = "MASE (each series in its own units)"


def plot_report(
    prepared: PreparedData,
    windows: RollingOrigins,
    forecast: np.ndarray,
    bands: Bands,
    metrics: dict[str, Any],
    per_series: dict[str, Any],
    output_dir: Path,
    cfg: DictConfig,
) -> list[Path]:
    """The forecasts of the best and worst `evaluate.plot_series` series (by MASE relative to
    naive; the only one when there is one), the MASE distribution over series when there are
    several, and the error by horizon step."""
    test, horizon = prepared.splits["test"], windows.next_time_window
    rows = per_series["series"]
    position = {series_id: i for i, series_id in enumerate(test.series_ids)}
    chosen = [position[rows[i]["id"]] for i in best_and_worst(rows, int(cfg.evaluate.plot_series))]
    paths = []
    names = file_name_parts([test.series_ids[index] for index in chosen])
    for index in chosen:
        lo, hi = int(test.offsets[index]), int(test.offsets[index + 1])
        lines = {
            f"model, {step}-step ahead": windows.aligned(forecast, step, lo, hi - lo)
            for step in sorted({1, horizon})
        }
        shaded = {
            f"{level}% interval, 1-step ahead": (
                windows.aligned(lower, 1, lo, hi - lo),
                windows.aligned(upper, 1, lo, hi - lo),
            )
            for level, (lower, upper) in bands.items()
        }
        dates = None if test.dates is None else test.dates[lo:hi]
        series_id = test.series_ids[index]
        paths.append(
            plot_rolling_forecasts(
                output_dir / f"forecast_vs_actual_{names[series_id]}.png",
                test.values[lo:hi],
                lines,
                title=f"Rolling forecasts over the test split: {series_id}",
                x=dates,
                bands=shaded,
            )
        )
    if len(rows) > 1:
        paths.append(
            plot_mase_by_series(
                output_dir / "mase_by_series.png",
                np.array([row["mase_vs_naive"] for row in rows]),
                title=f"Test MASE relative to naive, per series ({len(rows)} series)",
            )
        )
    paths.append(error_by_horizon_plot(output_dir, metrics, len(rows), len(windows)))
    return paths


def error_by_horizon_plot(
    output_dir: Path, metrics: dict[str, Any], series: int, origins: int
) -> Path:
    """The error by horizon step: MAE in prices for one series; for a panel MASE, each series
    in its own units, as its other scores are (pooled in prices, the dearest tickers' errors
    were all the bars showed)."""
    error, ylabel = ("mae", "MAE (price units)") if series == 1 else ("mase", PANEL_MASE)
    return plot_error_by_horizon(
        output_dir / "error_by_horizon.png",
        {name: m["per_step"][error] for name, m in metrics.items()},
        title=f"Test {error.upper()} by horizon step ({counted(origins, 'origin')})",
        ylabel=ylabel,
    )
