"""The served model's answer: one row per input window, `forecast_1..H` then each level's
`lower_<level>_<step>` and `upper_<level>_<step>` columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stockcast.forecasting.intervals import Bands


def forecast_columns(next_time_window: int, levels: Sequence[str] = ()) -> list[str]:
    """`forecast_1..H`, then `lower_<level>_<step>` and `upper_<level>_<step>` for each level."""
    steps = range(1, next_time_window + 1)
    columns = [f"forecast_{h}" for h in steps]
    for level in levels:
        columns += [f"lower_{level}_{h}" for h in steps]
        columns += [f"upper_{level}_{h}" for h in steps]
    return columns


def _forecast_table(point: np.ndarray, bands: Bands) -> tuple[np.ndarray, list[str]]:
    """(one row per window of the answer's values, their `forecast_columns`)."""
    blocks = [np.asarray(point, dtype=np.float64)]
    for lower, upper in bands.values():
        blocks += [lower, upper]
    return np.hstack(blocks), forecast_columns(point.shape[1], list(bands))


def forecast_frame(point: np.ndarray, bands: Bands) -> Any:
    """The served model's answer as a DataFrame in `forecast_columns` order."""
    import pandas as pd

    values, columns = _forecast_table(point, bands)
    return pd.DataFrame(values, columns=columns)


def forecast_records(point: np.ndarray, bands: Bands) -> list[dict[str, float]]:
    """`forecast_frame(point, bands).to_dict(orient="records")`, the same floats in the same
    order, without the DataFrame: building it and reading it back row by row took twice as long
    as the forecast itself in each request the server answered."""
    values, columns = _forecast_table(point, bands)
    return [dict(zip(columns, row, strict=True)) for row in values.tolist()]


def split_forecast_frame(frame: Any) -> tuple[np.ndarray, Bands]:
    """(point forecasts, {level: (lower, upper)}) back from a served model's DataFrame."""
    columns = list(frame.columns)
    values = frame.to_numpy(dtype=np.float64)
    point_cols = [i for i, c in enumerate(columns) if c.startswith("forecast_")]
    steps = range(1, len(point_cols) + 1)
    bands = {}
    for name in columns:
        if name.startswith("lower_") and name.endswith("_1"):
            level = name[len("lower_") : -len("_1")]
            lower = [columns.index(f"lower_{level}_{h}") for h in steps]
            upper = [columns.index(f"upper_{level}_{h}") for h in steps]
            bands[level] = (values[:, lower], values[:, upper])
    return values[:, point_cols], bands
