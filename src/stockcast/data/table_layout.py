"""A table's rows and columns that refuse the file before its values are read: a row without
its series' id, a date repeated in a series (interleaved series without `<key>.id_column`, times
of day kept apart from the dates, a clock hour repeated as daylight saving ends), and a value
column of true/false, dates or durations. Each refusal is one `DataError` sentence naming the
data rows and the fix; `key` is the config section the user sets (`data` when training, `input`
when predicting).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.data.stacked_series import refuse_stacked_series
from stockcast.errors import DataError, first_few

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
