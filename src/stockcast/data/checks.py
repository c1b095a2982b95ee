"""Refuse data that would train or forecast garbage, before any work is done.

Each check raises one `DataError` sentence naming where the problem is (data rows or dates) and
the fix. The CSV layout checks see the file's rows; the value checks see one series at a time
(its dates when it has them, its positions otherwise), whatever source it came from. `key` is the
config section the user sets (`data` when training, `input` when predicting).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.data.series import Series
from stockcast.data.stacked_series import refuse_stacked_series
from stockcast.errors import DataError, first_few
from stockcast.forecasting.float_limits import LARGEST_VALUE, SMALLEST_VALUE

# A series' typical one-step move must span at least this many float32 steps at its level (a
# tenth of a move lost to rounding): fewer, and its windows are rounding noise.
MIN_MOVE_FLOAT32_STEPS = 10

SHOWN = 3  # how many rows or dates a message lists
# A time of day written alone (09:30, 9:30:00, 4:00 PM): a file that keeps its times in a
# column of their own beside the dates.
TIME_OF_DAY = re.compile(r"\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?\s*")
# A setting's value that a shell and Hydra pass on as it is, without quotes.
PLAIN_VALUE = re.compile(r"[\w.-]+")


def day_or_time(stamp: Any) -> str:
    """A date as the file most likely wrote it: the day alone at midnight."""
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else str(stamp)


def _data_rows(mask: np.ndarray) -> list[int]:
    """1-based data rows (the header not counted), as the other CSV messages number them."""
    return [int(row) + 1 for row in np.flatnonzero(mask)]


def setting(key: str, value: Any) -> str:
    """`key=value` as a command line must give it: quoted for the shell and for Hydra where the
    value holds a space or another character either reads (a column named `Ticker Symbol`)."""
    text = str(value)
    return f"{key}={text}" if PLAIN_VALUE.fullmatch(text) else f'"{key}={text!r}"'


def candidate_id_column(frame: Any, date_column: str, value_column: str) -> str | None:
    """A column that, with the date, makes every row unique and names a few series: the column
    a multi-series file (Date, Ticker, Close) forgot to name as its id."""
    for column in frame.columns:
        if column in (date_column, value_column):
            continue
        distinct = frame[column].nunique(dropna=False)
        if 2 <= distinct <= len(frame) // 2 and not frame.duplicated([column, date_column]).any():
            return str(column)
    return None


def time_of_day_column(frame: Any, named: Sequence[str | None]) -> str | None:
    """A column other than the `named` ones whose every cell is a time of day written alone
    (09:30, or a Parquet time): the times a file keeps apart from its dates (Date, Time,
    Close)."""
    for column in frame.columns:
        if column in named:
            continue
        cells = frame[column].dropna()
        if len(cells) and all(
            isinstance(cell, time) or (isinstance(cell, str) and TIME_OF_DAY.fullmatch(cell))
            for cell in cells
        ):
            return str(column)
    return None


def refuse_times_apart_from_dates(
    frame: Any,
    path: str | Path,
    date_column: str,
    value_column: str,
    id_column: str | None,
    key: str,
    checked: np.ndarray,
) -> None:
    """Dates repeated in a series beside a column of times of day (Date, Time, Close, as
    intraday downloads write them): not duplicates to drop, nor series to set as
    `<key>.id_column` (each time of day's values read as a series of days), but one date and
    time per row that a model needs in one column."""
    keys = [column for column in (id_column, date_column) if column is not None]
    repeated = frame.duplicated(keys, keep=False).to_numpy() & checked
    if not repeated.any():
        return
    times = time_of_day_column(frame, (date_column, value_column, id_column))
    if times is None:
        return
    row = int(np.flatnonzero(repeated)[0])
    raise DataError(
        f"{table_label(path)} repeats dates ({day_or_time(frame[date_column].iloc[row])} at data "
        f"row {row + 1} and others) and keeps the times of day apart from them, in column "
        f"{times!r}; join the two into one column of dates with times ("
        f"{frame[date_column].iloc[row]:%Y-%m-%d} {str(frame[times].iloc[row]).strip()}) and "
        f"set {key}.date_column to it."
    )


def table_label(path: str | Path) -> str:
    """How messages name a table file: by its format."""
    return f"{'Parquet' if Path(path).suffix.lower() in ('.parquet', '.pq') else 'CSV'} file {path}"


def refuse_true_false(column: Any, label: str, key: str) -> None:
    """A value column holding True/False (a CSV's True or true, a Parquet bool column): pandas
    turns them into 1 and 0, which would be read as prices."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return  # numbers only: no True or False among them
    cells = column.to_numpy(object)
    found = np.flatnonzero([isinstance(value, bool | np.bool_) for value in cells])
    if not found.size:
        return
    row = int(found[0])
    raise DataError(
        f"{label} has a true/false value {bool(column.iloc[row])} in column {column.name!r} at "
        f"data row {row + 1}, which is no price; set {key}.value_column to a numeric column."
    )


def refuse_times(column: Any, label: str, key: str) -> None:
    """A value column of dates or durations (a Parquet timestamp column): read as numbers,
    they were nanoseconds, trained on as prices of 10^18."""
    import pandas as pd

    dates = pd.api.types.is_datetime64_any_dtype(column)
    if dates or pd.api.types.is_timedelta64_dtype(column):
        raise DataError(
            f"{label} holds {'dates' if dates else 'durations'} in column {column.name!r} "
            f"({column.dtype}), which are no prices; set {key}.value_column to a numeric column."
        )


def check_csv_layout(
    frame: Any,
    path: str | Path,
    date_column: str | None,
    value_column: str,
    id_column: str | None,
    key: str,
    checked: np.ndarray | None = None,
) -> None:
    """Every row names its series; one row per date in each series; several series, dated and
    interleaved or undated and one after another, need `<key>.id_column`. `checked`: the rows
    to check (those the run keeps), all where None."""
    checked = np.ones(len(frame), dtype=bool) if checked is None else checked
    if id_column is not None:
        no_id = frame[id_column].isna().to_numpy() & checked
        if no_id.any():
            one = no_id.sum() == 1
            rows, those = ("row", "that row belongs") if one else ("rows", "those rows belong")
            raise DataError(
                f"{table_label(path)} has no {id_column!r} ({key}.id_column) at data {rows} "
                f"{first_few(_data_rows(no_id), SHOWN)}; fill in which series {those} to."
            )
    if date_column is None:
        if id_column is None:
            refuse_stacked_series(frame, table_label(path), value_column, key)
        return
    keys = [column for column in (id_column, date_column) if column is not None]
    repeated = frame.duplicated(keys, keep=False).to_numpy() & checked
    if not repeated.any():
        return
    first = frame.loc[repeated, keys].iloc[0]
    same = (frame[keys] == first).all(axis=1).to_numpy()
    date = day_or_time(first[date_column])
    where = first_few(_data_rows(same), SHOWN)
    if id_column is None:
        candidate = candidate_id_column(frame, date_column, value_column)
        if candidate is not None:
            count = frame[candidate].nunique()
            raise DataError(
                f"{table_label(path)} repeats dates ({date} at data rows {where}) and looks like "
                f"{count} series interleaved, one per {candidate!r} value; set "
                f"{setting(f'{key}.id_column', candidate)} to read them as separate series."
            )
    series = "" if id_column is None else f" of series {first[id_column]!r}"
    raise DataError(
        f"{table_label(path)} has {int(repeated.sum())} rows on a repeated date{series} ({date} at "
        f"data rows {where}); keep one row per date in each series, e.g. drop the duplicates"
        f"{or_clock_hour(first[date_column])}."
    )


def or_clock_hour(stamp: Any) -> str:
    """The other cause of a repeated time of day: local clock times repeat an hour where
    daylight saving ends (01:00 twice in New York on 3 November 2024), and dropping either row
    would lose a real bar. Said by every reader of a repeated date, a batch's per-id one too."""
    if stamp == stamp.normalize():
        return ""
    return (
        ", or, where the times are local clock times that repeat an hour as daylight saving "
        "ends, write them with their UTC offset (2024-11-03T01:00-04:00) or in UTC"
    )


def _places(item: Series, mask: np.ndarray) -> str:
    """Where in a series the mask is set: its dates when it has them, else 1-based points."""
    index = np.flatnonzero(mask)
    if item.dates is not None:
        dates = [np.datetime_as_string(item.dates[i], unit="D") for i in index]
        return f"on {first_few(dates, SHOWN)}"
    return f"at point(s) {first_few([int(i) + 1 for i in index], SHOWN)}"


def check_series_values(
    series: Sequence[Series], allow_non_positive: bool, key: str = "data"
) -> None:
    """Finite values, positive unless allowed, and small enough for the model's float32 maths."""
    for item in series:
        name = "the input" if key == "input" else f"series {item.series_id!r}"
        values = item.values
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(
                f"{name} has {int(bad.sum())} non-finite value(s) (inf or NaN) "
                f"{_places(item, bad)}; fix or drop them first."
            )
        non_positive = values <= 0
        if non_positive.any() and not allow_non_positive:
            raise DataError(
                f"{name} has {int(non_positive.sum())} value(s) at or below 0 "
                f"{_places(item, non_positive)} (first {values[non_positive][0]:g}); prices must "
                f"be positive: fix the data, or set {key}.allow_non_positive=true if these are "
                "not prices."
            )
        _check_float32_range(item, name)


def refuse_constant_data(series: Sequence[Series], read_from_a_file: bool) -> None:
    """Data in which no series ever moves: nothing to forecast, and no scale to measure errors
    in (the train split's own check would blame a flat start the data does not have)."""
    if any(len(item.values) and np.ptp(item.values) > 0 for item in series):
        return
    what = "the series" if len(series) == 1 else f"each of the {len(series)} series"
    check = (
        "check that data.value_column names the prices"
        if read_from_a_file
        else "check the data's settings (a market without volatility never moves)"
    )
    raise DataError(
        f"{what} holds one value throughout (first {series[0].values[0]:g}), so there is "
        f"nothing to forecast; {check}."
    )


def _check_float32_range(item: Series, name: str) -> None:
    """Values whose scaled statistics (a window's spread, the naive MAE) overflow or vanish in
    float32 would train a model that forecasts NaN: refuse them and say how to rescale."""
    values = item.values
    magnitude = np.abs(values)
    # The bounds forecasting's input guard holds every window to.
    too_large = magnitude > LARGEST_VALUE
    tiny = (magnitude < SMALLEST_VALUE) & (values != 0)
    if too_large.any():
        raise DataError(
            f"{name} has values up to {magnitude.max():.3g} {_places(item, too_large)}, too "
            "large for the model's float32 arithmetic (their scaled statistics overflow); "
            "rescale the data first, e.g. divide it by a power of 10."
        )
    if tiny.any():
        raise DataError(
            f"{name} has values as small as {magnitude[tiny].min():.3g} {_places(item, tiny)}, "
            "too small for the model's float32 arithmetic (their scaled statistics vanish); "
            "rescale the data first, e.g. multiply it by a power of 10."
        )


def refuse_moves_float32_cannot_hold(
    series_ids: Sequence[str], segments: Sequence[np.ndarray]
) -> None:
    """Refuse a series whose typical one-step move is a few float32 steps at its level (a value
    near 1e9 that moves by 1): windows, losses and scores are computed in float32, where its
    values round to multiples of 64, and it would score a perfect, meaningless 0."""
    for series_id, values in zip(series_ids, segments, strict=True):
        moves = np.abs(np.diff(values))
        moving = moves[moves > 0]
        if not len(moving):
            continue
        level = float(np.abs(values).max())
        step = float(np.spacing(np.float32(level)))
        typical = float(np.median(moving))
        if typical < MIN_MOVE_FLOAT32_STEPS * step:
            raise DataError(
                f"series {series_id!r} moves by about {typical:.3g} a step at a level of "
                f"{level:.3g}, where float32, which the model computes in, holds values only "
                f"{step:.3g} apart; subtract a constant level from it (or rescale it) so its "
                "moves show."
            )
