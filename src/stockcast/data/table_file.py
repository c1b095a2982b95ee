"""Table files (CSV, Parquet) read into series: the file read as a frame in its format
(`table_formats`), each series' values and dates checked before anything uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.data.calendar import after_day
from stockcast.data.csv_file import column_text, refuse_a_repeated_column, separator_char
from stockcast.data.date_zone import series_zones, written_offsets
from stockcast.data.id_refusals import refused_ids
from stockcast.data.series import UNNAMED, Series
from stockcast.data.table_dates import read_date_column
from stockcast.data.table_formats import TABLE_FORMATS, read_frame, table_format
from stockcast.data.table_layout import (
    check_csv_layout,
    refuse_times,
    refuse_times_apart_from_dates,
    refuse_true_false,
)
from stockcast.data.value_cells import cells_as_numbers, markers_missing, spaces_only
from stockcast.data.value_refusals import refuse_unread_values
from stockcast.errors import DataError
from stockcast.paths import user_path

# The columns carrying each row's written UTC offset and zone (`date_zone`): tuples, which no
# table's header reads as.
OFFSET_KEY = ("stockcast", "utc_offset")
ZONE_KEY = ("stockcast", "zone")


def read_table_series(
    path: str | Path,
    date_column: str | None,
    value_column: str,
    id_column: str | None = None,
    key: str = "data",
    format: str | None = None,
    checked_through: np.datetime64 | None = None,
    refused: dict[str, str] | None = None,
    separator: str = ",",
    decimal: str = ".",
    chosen: Mapping[str, str | None] | None = None,
) -> list[Series]:
    """Read one series per id from a CSV or Parquet table, sorted by date, refusing anything
    that is not a price series.

    The format is `format` (`csv`, `parquet`) or the file's suffix (.csv, also compressed as
    .csv.gz, .csv.zip, ...; .parquet or .pq). `key` is the config section the columns were
    given in (`data` for training, `input` for prediction): messages name `<key>.path`,
    `<key>.id_column`, ...

    `checked_through`: a day whose later rows are read unchecked (a value not yet out may be
    missing, a row may repeat a date), for a caller that cuts them (`until`); their dates are
    checked, being what places them after it.

    `refused`: a dict that, with an `id_column`, takes each series whose own rows would
    refuse the file (`refused_ids`), with why, instead; the others are read.

    `separator` and `decimal`: a CSV's field separator and decimal mark (`;` and `,` where a
    spreadsheet writes the comma as the decimal mark).

    `chosen`: for a column setting the user left unset, how it was chosen, which a refusal of a
    table without that column says beside the setting's name.
    """

    # A `~` Hydra passed on as typed (`data.path='~/prices.csv'`) is the user's home.
    path = user_path(str(path))
    separator = separator_char(separator)
    fmt = table_format(path, format, key)
    label = f"{TABLE_FORMATS[fmt]} file {path}"
    frame = _without_empty_end(read_frame(path, fmt, key, id_column, separator, decimal))
    if fmt != "csv" and id_column is not None and id_column in frame.columns:
        # As a CSV's are read (`read_csv_frame`): `AAA ` is `AAA`, whichever file holds it.
        frame[id_column] = frame[id_column].map(lambda v: v.strip() if isinstance(v, str) else v)
    _check_columns(
        frame, path, label, fmt, key, separator, date_column, value_column, id_column, chosen
    )
    offsets = None if date_column is None else written_offsets(frame[date_column])
    if date_column is not None:
        frame = frame.assign(**{date_column: read_date_column(frame[date_column], label, key)})
    checked = _checked_rows(frame, date_column, checked_through)
    frame, values = _values_as_numbers(frame, label, key, value_column, decimal, checked)
    if date_column is not None:
        # Before any series is refused for repeating its dates: every one would be.
        refuse_times_apart_from_dates(
            frame, path, date_column, value_column, id_column, key, checked
        )
    if refused is not None and id_column is not None:
        refused.update(refused_ids(frame, values, checked, id_column, date_column, value_column))
        # Their rows stay (the file's data rows keep their numbers) but are neither checked
        # nor read.
        checked = checked & ~frame[id_column].astype(str).isin(list(refused)).to_numpy()
    # A Parquet file's numbers are stored as such: a 0 there was written as 0.
    written = partial(column_text, path, value_column, separator) if fmt == "csv" else _no_text
    refuse_unread_values(
        frame, values, checked, label, key, decimal, written, date_column, value_column, id_column
    )
    frame = frame.assign(**{value_column: values.astype(np.float64)})
    check_csv_layout(frame, path, date_column, value_column, id_column, key, checked)
    return _series_by_id(frame, offsets, date_column, value_column, id_column, refused)


def _check_columns(
    frame: Any,
    path: Path,
    label: str,
    fmt: str,
    key: str,
    separator: str,
    date_column: str | None,
    value_column: str,
    id_column: str | None,
    chosen: Mapping[str, str | None] | None = None,
) -> None:
    """Each column the settings name is in the table, once, and no two settings name the same
    one: the dates parsed as numbers would be read as prices (nanoseconds since 1970)."""
    wanted = {"value_column": value_column, "date_column": date_column, "id_column": id_column}
    for name, column in wanted.items():
        if column is not None and column not in frame.columns:
            setting = f"{key}.{name}"
            if chosen and chosen.get(name):
                setting += f", {chosen[name]}"
            raise DataError(_no_column(label, list(frame.columns), key, name, column, setting))
    named = [(name, column) for name, column in wanted.items() if column is not None]
    if fmt == "csv":
        refuse_a_repeated_column(path, label, named, separator, key)
    for number, (name, column) in enumerate(named):
        other = next((o for o, c in named[number + 1 :] if c == column), None)
        if other is not None:
            raise DataError(
                f"{key}.{name} and {key}.{other} both name column {column!r} of {label}; its "
                f"columns are {list(frame.columns)}: set each to its own column."
            )


def _checked_rows(
    frame: Any, date_column: str | None, checked_through: np.datetime64 | None
) -> np.ndarray:
    """Which rows are checked: all, or those dated up to `checked_through` (the later ones are
    cut by the caller, and may hold what is not out yet)."""
    if checked_through is None or date_column is None:
        return np.ones(len(frame), dtype=bool)
    return frame[date_column].to_numpy("datetime64[ns]") < after_day(checked_through)


def _values_as_numbers(
    frame: Any, label: str, key: str, value_column: str, decimal: str, checked: np.ndarray
) -> tuple[Any, Any]:
    """(the frame with its missing-value markers as missing, the value column read as numbers
    by `decimal`), once no value is a time or a checked one true or false: the numbers are NaN
    for any cell that is no number, which the caller refuses or sets apart."""
    refuse_times(frame[value_column], label, key)
    refuse_true_false(frame[value_column].where(checked), label, key)
    frame = frame.assign(**{value_column: markers_missing(frame[value_column])})
    return frame, cells_as_numbers(frame[value_column], decimal)


def _series_by_id(
    frame: Any,
    offsets: Any,
    date_column: str | None,
    value_column: str,
    id_column: str | None,
    refused: dict[str, str] | None,
) -> list[Series]:
    """One series per id (one in all without an id column), sorted by date, each with its
    rows' written zones where the dates were written with offsets; a refused id has none."""
    if offsets is not None:
        # Beside the rows, under names no file's header holds, through the sort and grouping.
        frame = frame.copy()
        frame[OFFSET_KEY], frame[ZONE_KEY] = offsets
    if date_column is not None:
        frame = frame.sort_values(
            [c for c in (id_column, date_column) if c is not None], kind="stable"
        )
    # observed=True: a categorical id (Parquet keeps pandas' categories) lists categories no row
    # holds, which would otherwise each become an empty series.
    groups = (
        [(UNNAMED, frame)]
        if id_column is None
        else frame.groupby(id_column, sort=True, observed=True)
    )
    return [
        Series(
            str(series_id),
            group[value_column].to_numpy(np.float64),
            None if date_column is None else group[date_column].to_numpy("datetime64[ns]"),
            ()
            if offsets is None
            else series_zones(
                group[date_column].to_numpy("datetime64[ns]"),
                group[OFFSET_KEY].to_numpy(float),
                group[ZONE_KEY].to_numpy(),
            ),
        )
        for series_id, group in groups
        if refused is None or str(series_id) not in refused
    ]


def _no_text() -> None:
    """No text beside a file's numbers (a Parquet file stores them as numbers)."""
    return None


def _no_column(
    label: str, columns: list[Any], key: str, name: str, column: str, setting: str
) -> str:
    """The sentence for a column the settings name that the table lacks (`setting`: the key,
    and how it was chosen where the user left it unset). One named so but for spaces around it
    (`Date, Close`, a header written with a space after each comma) is named with the setting
    that reads it: a shell and Hydra drop those spaces unless they are quoted."""
    padded = [c for c in columns if isinstance(c, str) and c != column and c.strip() == column]
    if len(padded) == 1:
        return (
            f"{label} has no column {column!r} ({setting}), but one named {padded[0]!r}, "
            f'with spaces around the name; set "{key}.{name}={padded[0]!r}" (quoted so), or '
            "remove the spaces from the file's header."
        )
    undated = f", or {key}.date_column=null for values without dates" * (name == "date_column")
    return (
        f"{label} has no column {column!r} ({setting}); its columns are {columns}: set "
        f"{key}.{name} to one of them{undated}."
    )


def _without_empty_end(frame: Any) -> Any:
    """The table without the rows after its last that holds anything: a spreadsheet saved as
    CSV ends with rows of empty fields (`,`, or spaces between the commas), which are no data
    (an empty row between rows is still refused as a row without a date or value)."""
    import pandas as pd

    filled = frame.notna().to_numpy()
    for index in range(frame.shape[1]):
        cells = frame.iloc[:, index]
        if cells.dtype == object or pd.api.types.is_string_dtype(cells):
            filled[:, index] &= ~cells.map(spaces_only, na_action="ignore").eq(True).to_numpy()
    holding = np.flatnonzero(filled.any(axis=1))
    return frame.iloc[: holding[-1] + 1] if len(holding) else frame


def read_csv_series(
    path: str | Path,
    date_column: str | None,
    value_column: str,
    id_column: str | None = None,
    key: str = "data",
) -> list[Series]:
    """`read_table_series` for a CSV file, whatever its suffix."""
    return read_table_series(path, date_column, value_column, id_column, key, format="csv")
