"""What a prediction run leaves behind: a printed table, CSV and JSON files, optional PNGs."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.data.date_format import format_date, format_dates, holds_times
from stockcast.errors import counted
from stockcast.evaluation.plots import (
    decimals_for,
    plot_forecast,
    plot_rolling_forecasts,
    readable,
)
from stockcast.prediction.forecast import Forecast, RollingBacktest
from stockcast.prediction.inputs import InputSeries
from stockcast.serving.model import OpenModel

FORECAST_CSV = "forecast.csv"
FORECAST_JSON = "forecast.json"
FORECAST_PNG = "forecast.png"
BACKTEST_CSV = "backtest.csv"
BACKTEST_PNG = "backtest.png"


def timed(result: Forecast) -> bool:
    """Whether a forecast's dates are written with their times: where its window's or its own
    hold one other than midnight."""
    return holds_times(result.window_x, result.x)


def forecast_rows(result: Forecast) -> list[dict[str, Any]]:
    """One dict per step: step, date (None without dates), forecast, `lower_<level>` and
    `upper_<level>` for each interval level, and actual/error if known."""
    rows = []
    dates = None if result.x is None else format_dates(result.x, timed(result))
    for i, value in enumerate(result.forecast):
        row: dict[str, Any] = {
            "step": i + 1,
            "date": None if dates is None else dates[i],
            "forecast": float(value),
        }
        for level, (lower, upper) in result.bands.items():
            row[f"lower_{level}"] = float(lower[i])
            row[f"upper_{level}"] = float(upper[i])
        if result.actual is not None:
            row["actual"] = float(result.actual[i])
            row["error"] = float(value - result.actual[i])
        rows.append(row)
    return rows


def shown_decimals(rows: list[dict[str, Any]], decimals: int) -> int:
    """`decimals`, or more where the table's typical number (the median size of its non-zero
    ones) would show fewer than `decimals` significant digits with them: prices of 0.000001234
    print as such, not 0.0000 (and a rate near zero now and then does not add a dozen)."""
    numbers = [abs(v) for row in rows for v in row.values() if isinstance(v, float)]
    sizes = [v for v in numbers if v > 0 and math.isfinite(v)]
    if not sizes:
        return decimals
    # At least one significant digit, also where print_decimals is 0.
    return decimals_for(float(np.median(sizes)), decimals)


def format_table(rows: list[dict[str, Any]], decimals: int) -> str:
    """Right-aligned columns; the date column only when there are dates; at least `decimals`
    decimals (`shown_decimals`)."""
    columns = [c for c in rows[0] if not (c == "date" and rows[0]["date"] is None)]
    decimals = shown_decimals(rows, decimals)
    cells = [
        [f"{row[c]:.{decimals}f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        for row in rows
    ]
    widths = [max(len(c), *(len(cell[i]) for cell in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(cell, widths, strict=True)) for cell in cells]
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def model_block(model: OpenModel) -> dict[str, Any]:
    """Which registered version forecast, and its window sizes (forecast.json's `model`)."""
    return {
        "name": model.name,
        "version": model.version,
        "aliases": list(model.aliases),
        "uri": model.uri,
        "previous_time_window": model.previous_time_window,
        "next_time_window": model.next_time_window,
        "data_hash": model.metadata.get("data_hash"),
    }


def summary(
    model: OpenModel,
    series: InputSeries,
    result: Forecast,
    mode: str,
    backtest: RollingBacktest | None,
) -> dict[str, Any]:
    """Everything needed to trace a forecast back to its model and input (forecast.json)."""
    out: dict[str, Any] = {
        "model": model_block(model),
        "input": {**series.details, "description": series.description, "n_values": len(series)},
        "mode": mode,
        "input_window": [float(v) for v in result.window],
        "input_window_dates": None
        if result.window_x is None
        else format_dates(result.window_x, timed(result)),
        "date_frequency": result.date_frequency,
        "forecast": forecast_rows(result),
    }
    if result.actual is not None:
        out["mae"] = float(np.abs(result.forecast - result.actual).mean())
    if backtest is not None:
        out["rolling_backtest"] = {
            "origins": len(backtest.origins),
            "mae_by_step": backtest.mae_by_step().tolist(),
            "naive_mae_by_step": backtest.naive_mae_by_step().tolist(),
            "coverage": backtest.coverage(),
        }
    return out


def backtest_rows(series: InputSeries, backtest: RollingBacktest) -> list[dict[str, Any]]:
    """Long format: one row per (origin, step) with the target's position or date, and the
    interval bounds of each level."""
    rows = []
    with_time = series.dates is not None and holds_times(series.dates)
    for i, origin in enumerate(backtest.origins):
        for k in range(backtest.forecasts.shape[1]):
            target = int(origin + k)
            row = {
                "origin": int(origin),
                "step": k + 1,
                "target_index": target,
                "target_date": None
                if series.dates is None
                else format_date(series.dates[target], with_time),
                "forecast": float(backtest.forecasts[i, k]),
                "actual": float(backtest.actual[i, k]),
            }
            for level, (lower, upper) in backtest.bands.items():
                row[f"lower_{level}"] = float(lower[i, k])
                row[f"upper_{level}"] = float(upper[i, k])
            rows.append(row)
    return rows


def plot_forecast_png(
    path: Path, model: OpenModel, series: InputSeries, result: Forecast, history: int
) -> Path:
    """Recent history up to the forecast origin, then the forecast (and actuals when known)."""

    end = len(series) - (0 if result.actual is None else len(result.actual))
    start = max(0, end - history)
    dated = series.dates is not None and result.x is not None
    return plot_forecast(
        path,
        series.values[start:end],
        result.forecast,
        f"{model.label}: {series.description}",
        history_x=series.dates[start:end] if dated else None,
        forecast_x=result.x if dated else None,
        actual=result.actual,
        bands={f"{level}% interval": band for level, band in result.bands.items()},
    )


def plot_backtest_png(
    path: Path, model: OpenModel, series: InputSeries, backtest: RollingBacktest
) -> Path:
    """Actual prices over the stretch with the 1-step and last-step rolling forecasts and the
    1-step bands, titled with the realised coverage of every level."""

    start = backtest.stretch_start
    actual = series.values[start:]
    horizon = backtest.forecasts.shape[1]
    mae = backtest.mae_by_step()
    lines = {
        f"{step}-step-ahead forecast (MAE {readable(mae[step - 1])})": backtest.aligned(
            step, len(actual)
        )
        for step in sorted({1, horizon})
    }
    naive = backtest.naive_mae_by_step()
    coverage = ", ".join(
        f"{level}% covered {share:.0%}" for level, share in backtest.coverage().items()
    )
    title = (
        f"{model.label}: rolling backtest, {series.description}\n"
        f"{counted(len(backtest.origins), 'origin')}; naive MAE step 1 {readable(naive[0])}, "
        f"step {horizon} {readable(naive[-1])}" + (f"; {coverage}" if coverage else "")
    )
    bands = {
        f"{level}% interval, 1-step ahead": (
            backtest.windows.aligned(lower, 1, start, len(actual)),
            backtest.windows.aligned(upper, 1, start, len(actual)),
        )
        for level, (lower, upper) in backtest.bands.items()
    }
    x = None if series.dates is None else series.dates[start:]
    return plot_rolling_forecasts(path, actual, lines, title, x=x, bands=bands)
