"""What a batch prediction leaves behind: one block per id in forecast.csv and forecast.json,
and a printed summary that stays a screenful whatever the number of ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.data.date_format import format_dates, holds_times
from stockcast.prediction.batch import SeriesBatch, named
from stockcast.prediction.batch_forecast import BatchForecast
from stockcast.prediction.outputs import format_table, model_block
from stockcast.serving.model import OpenModel

REFUSED_CSV = "refused.csv"


def timed(result: BatchForecast) -> bool:
    """Whether a batch's dates are written with their times: where any of its forecast dates
    or window ends holds one, in every column and every id alike."""
    return holds_times(result.dates, result.window_end)


def batch_frame(result: BatchForecast, id_column: str) -> Any:
    """Long format, one block of next_time_window rows per id: <id_column>, step, date,
    forecast, then `lower_<level>` / `upper_<level>` per interval level."""
    import pandas as pd

    n, h = result.forecasts.shape
    columns: dict[str, Any] = {
        id_column: np.repeat(np.asarray(result.ids, dtype=object), h),
        "step": np.tile(np.arange(1, h + 1), n),
        "date": None if result.dates is None else format_dates(result.dates.ravel(), timed(result)),
        "forecast": result.forecasts.ravel(),
    }
    for level, (lower, upper) in result.bands.items():
        columns[f"lower_{level}"] = lower.ravel()
        columns[f"upper_{level}"] = upper.ravel()
    return pd.DataFrame(columns)


def batch_summary(
    model: OpenModel, batch: SeriesBatch, result: BatchForecast, frame: Any
) -> dict[str, Any]:
    """forecast.json: the model, the input, and one block per id with its forecast rows."""
    h = result.forecasts.shape[1]
    records = frame.drop(columns=[batch.id_column]).to_dict("records")
    ends = None if result.window_end is None else format_dates(result.window_end, timed(result))
    lengths = {item.series_id: len(item) for item in batch.series}
    blocks = [
        {
            "id": series_id,
            "n_values": lengths[series_id],
            "input_window_end": None if ends is None else ends[i],
            "date_frequency": None if result.frequencies is None else result.frequencies[i],
            "forecast": records[i * h : (i + 1) * h],
        }
        for i, series_id in enumerate(result.ids)
    ]
    return {
        "model": model_block(model),
        "input": {
            **batch.details,
            "description": batch.description,
            # Every id of the file, those left out (`refused`) too.
            "n_series": len(batch) + len(batch.refused),
            "n_values": int(sum(len(item) for item in batch.series)),
        },
        "mode": "forecast",
        "series": blocks,
        # The ids `input.skip_refused` left out, each with the sentence that refused it.
        "refused": [{"id": item.series_id, "reason": item.reason} for item in result.refused],
    }


def write_refused_csv(path: Path, result: BatchForecast, id_column: str) -> Path:
    """refused.csv: each id `input.skip_refused` left out and the sentence that refused it
    (only the header where none was)."""
    import pandas as pd

    rows = [(item.series_id, item.reason) for item in result.refused]
    pd.DataFrame(rows, columns=[id_column, "reason"]).to_csv(path, index=False)
    return path


def write_batch_json(path: Path, payload: dict[str, Any]) -> Path:
    """Compact JSON: thousands of blocks, written in a fifth of the indented writer's time (the
    model has already refused non-finite forecasts, so there is no NaN to clean)."""
    path.write_text(json.dumps(payload, allow_nan=False) + "\n")
    return path


def preview_rows(result: BatchForecast, id_column: str, shown: int) -> list[dict[str, Any]]:
    """The first `shown` ids, one row each: last input date and the point forecast per step."""
    shown_ends = None if result.window_end is None else result.window_end[:shown]
    ends = None if shown_ends is None else format_dates(shown_ends, timed(result))
    rows = []
    for i, series_id in enumerate(result.ids[:shown]):
        row: dict[str, Any] = {id_column: series_id}
        if ends is not None:
            row["last input"] = ends[i]
        for k, value in enumerate(result.forecasts[i], start=1):
            row[f"step {k}"] = float(value)
        rows.append(row)
    return rows


def print_batch_report(
    model: OpenModel,
    batch: SeriesBatch,
    result: BatchForecast,
    written: list[Path],
    shown: int,
    decimals: int,
) -> None:
    p, h = model.previous_time_window, model.next_time_window
    print(
        f"{model.label}: the next {h} values of each of {len(result)} series, each from its "
        f"last {p}; input: {batch.description}"
    )
    print(format_table(preview_rows(result, batch.id_column, shown), decimals))
    rest = len(result) - shown
    if rest > 0:
        print(f"... and {rest} more series (every id, with its intervals, is in the files)")
    if result.refused:
        ids = [item.series_id for item in result.refused]
        print(
            f"left out {len(ids)} refused series (input.skip_refused): {named(ids)}; "
            f"the first: {result.refused[0].reason}"
        )
    print("saved: " + ", ".join(str(p) for p in written))
