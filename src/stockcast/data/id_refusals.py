"""The series of a long table whose own rows a reader would refuse the whole file for: a value
that is not a number or is missing, a date repeated within the series. A batch forecast that
leaves refused ids out (`input.skip_refused`) reads the rest, each refused id with one sentence.
Rows that name no series stay the file's fault: no id can be left out for them."""

from __future__ import annotations

from typing import Any

import numpy as np

from stockcast.data.table_layout import day_or_time, or_clock_hour
from stockcast.errors import first_few

# How many data rows a sentence lists before it says there are more.
ROWS_SHOWN = 5


def _rows(mask: np.ndarray) -> str:
    """1-based data rows (the header not counted), as the file's own messages number them."""
    rows = np.flatnonzero(mask) + 1
    return first_few(rows, ROWS_SHOWN)


def refused_ids(
    frame: Any,
    values: Any,
    checked: np.ndarray,
    id_column: str,
    date_column: str | None,
    value_column: str,
) -> dict[str, str]:
    """{id: why} for each series holding, among the `checked` rows, a value that is not a
    number (`values` is the value column read as numbers, NaN where it could not be) or none,
    or (dated) two rows on one date; the first of these reasons per id, in id order."""
    ids = frame[id_column].astype(str).to_numpy()
    named = frame[id_column].notna().to_numpy() & checked
    text = frame[value_column]
    not_number = (values.isna() & text.notna()).to_numpy() & named
    missing = text.isna().to_numpy() & named
    repeated = np.zeros(len(frame), dtype=bool)
    if date_column is not None:
        repeated = frame.duplicated([id_column, date_column], keep=False).to_numpy() & named
    reasons: dict[str, str] = {}
    for series_id in sorted(set(ids[not_number | missing | repeated])):
        own = ids == series_id
        if (not_number & own).any():
            row = int(np.flatnonzero(not_number & own)[0])
            reasons[series_id] = (
                f"series {series_id!r} has a non-numeric value {text.iloc[row]!r} in column "
                f"{value_column!r} at data row {row + 1}; clean it or drop the series."
            )
        elif (missing & own).any():
            reasons[series_id] = (
                f"series {series_id!r} has {int((missing & own).sum())} missing value(s) in "
                f"column {value_column!r} at data row(s) {_rows(missing & own)}; fill or drop "
                "them first."
            )
        else:
            first = int(np.flatnonzero(repeated & own)[0])
            stamp = frame[date_column].iloc[first]
            same = own & (frame[date_column] == stamp).to_numpy()
            reasons[series_id] = (
                f"series {series_id!r} has {int((repeated & own).sum())} rows on a repeated date "
                f"({day_or_time(stamp)} at data rows {_rows(same)}); keep one row per date, e.g. "
                f"drop the duplicates{or_clock_hour(stamp)}."
            )
    return reasons
