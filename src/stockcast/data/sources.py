"""Where series come from: synthetic generators and CSV files, chosen by `data.source`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.data.checks import check_csv_layout
from stockcast.data.series import Series
from stockcast.errors import DataError


def geometric_brownian_motion(
    length: int, start_price: float, drift: float, volatility: float, seed: int
) -> np.ndarray:
    """Exact GBM path: log-returns are N(drift - volatility²/2, volatility²), first value = start."""
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(drift - 0.5 * volatility**2, volatility, size=length - 1)
    return start_price * np.exp(np.concatenate([[0.0], np.cumsum(log_returns)]))


def trend_seasonal_noise(
    length: int,
    start_price: float,
    trend: float,
    season_length: int,
    amplitude: float,
    noise_std: float,
    seed: int,
) -> np.ndarray:
    """Linear trend + sine season + Gaussian noise: a series with structure a model can learn."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    season = amplitude * np.sin(2.0 * np.pi * t / season_length)
    return start_price + trend * t + season + rng.normal(0.0, noise_std, size=length)


def _gbm(cfg: Mapping[str, Any]) -> list[Series]:
    values = geometric_brownian_motion(
        int(cfg["length"]),
        float(cfg["start_price"]),
        float(cfg["drift"]),
        float(cfg["volatility"]),
        int(cfg["seed"]),
    )
    return [Series("gbm", values)]


def _seasonal(cfg: Mapping[str, Any]) -> list[Series]:
    season_length = int(cfg["season_length"])
    values = trend_seasonal_noise(
        int(cfg["length"]),
        float(cfg["start_price"]),
        float(cfg["trend"]),
        season_length,
        float(cfg["amplitude"]),
        float(cfg["noise_std"]),
        int(cfg["seed"]),
    )
    return [Series("seasonal", values)]


def read_csv_series(
    path: str | Path,
    date_column: str | None,
    value_column: str,
    id_column: str | None = None,
    key: str = "data",
) -> list[Series]:
    """Read one series per id from a CSV, sorted by date, refusing anything that is not a price.

    `key` is the config section the columns were given in (`data` for training, `input` for
    prediction): messages name `<key>.path`, `<key>.id_column`, ...
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist; set {key}.path to an existing file.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"CSV file {path} is empty; it needs a header and rows.") from None
    if frame.empty:
        raise DataError(f"CSV file {path} has a header but no rows.")
    wanted = {"value_column": value_column, "date_column": date_column, "id_column": id_column}
    for name, column in wanted.items():
        if column is not None and column not in frame.columns:
            raise DataError(
                f"CSV file {path} has no column {column!r} ({key}.{name}); "
                f"its columns are {list(frame.columns)}."
            )
    values = pd.to_numeric(frame[value_column], errors="coerce")
    bad = values.isna() & frame[value_column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"CSV file {path} has a non-numeric value {frame[value_column].iloc[row]!r} in column "
            f"{value_column!r} at data row {row + 1}; clean the file or pick another column."
        )
    missing = np.flatnonzero(values.isna().to_numpy())
    if missing.size:
        rows = ", ".join(str(r + 1) for r in missing[:5]) + (" ..." if missing.size > 5 else "")
        raise DataError(
            f"CSV file {path} has {missing.size} missing value(s) in column {value_column!r} "
            f"at data row(s) {rows}; fill or drop them first."
        )
    frame = frame.assign(**{value_column: values.astype(np.float64)})
    if date_column is not None:
        dates = pd.to_datetime(frame[date_column], errors="coerce")
        if dates.isna().any():
            row = int(np.flatnonzero(dates.isna().to_numpy())[0])
            raise DataError(
                f"CSV file {path} has an unreadable date {frame[date_column].iloc[row]!r} in column "
                f"{date_column!r} at data row {row + 1}; fix it or set {key}.date_column=null."
            )
        frame = frame.assign(**{date_column: dates})
    check_csv_layout(frame, path, date_column, value_column, id_column, key)
    if date_column is not None:
        frame = frame.sort_values(
            [c for c in (id_column, date_column) if c is not None], kind="stable"
        )
    groups = [("series", frame)] if id_column is None else frame.groupby(id_column, sort=True)
    return [
        Series(
            str(series_id),
            group[value_column].to_numpy(np.float64),
            None if date_column is None else group[date_column].to_numpy("datetime64[ns]"),
        )
        for series_id, group in groups
    ]


def _csv(cfg: Mapping[str, Any]) -> list[Series]:
    return read_csv_series(
        cfg["path"], cfg.get("date_column"), cfg["value_column"], cfg.get("id_column")
    )


SOURCES: dict[str, Callable[[Mapping[str, Any]], list[Series]]] = {
    "gbm": _gbm,
    "seasonal": _seasonal,
    "csv": _csv,
}


def load_series(data_cfg: Mapping[str, Any]) -> list[Series]:
    """Build the series named by `data.source` (one the config schema accepts) from its config."""
    return SOURCES[data_cfg["source"]](data_cfg)
