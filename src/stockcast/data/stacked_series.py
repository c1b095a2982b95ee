"""Undated files of several series one after another (Ticker, Close, sorted by ticker): read
as one, each change of ticker would splice two series. Told from a column that labels one
series' rows (weekdays, months, dates, calendar numbers) by the order its values come in."""

from __future__ import annotations

import calendar
from typing import Any

import numpy as np

from stockcast.errors import DataError, first_few

SHOWN_SERIES = 3  # how many of the series a refusal names
# Whole numbers that label one series' rows by its calendar: a position in a year (month,
# quarter, week, day of a month) is at most 53, and years lie between these.
MOST_POSITIONS_A_YEAR = 53
FIRST_YEAR, LAST_YEAR = 1800, 2200
# Month names and abbreviations, lower case, to their numbers (a label column of one series).
MONTH_NUMBERS = {
    name.lower(): number
    for names in (calendar.month_name, calendar.month_abbr)
    for number, name in enumerate(names)
    if name
}


def refuse_stacked_series(frame: Any, label: str, value_column: str, key: str) -> None:
    """An undated file of several series one after another (Ticker, Close, sorted by ticker)
    would be read as one series spliced at each change of ticker: refuse it when a text or
    whole-number column holds two or more names in contiguous runs of at least two rows each,
    one run per name. A column that cycles (weekday names) or holds dates, month names or
    calendar numbers (`_calendar_labels`: a day's intraday rows, a month's days, a year's
    months) labels the rows of a single series."""
    for column in frame.columns:
        kind = frame[column].dtype.kind
        if column == value_column or kind not in "OSUiu":
            continue
        names = frame[column]
        if names.isna().any():
            continue
        runs = (names != names.shift()).cumsum()
        lengths = runs.value_counts()
        if not (2 <= names.nunique() == len(lengths) and lengths.min() >= 2):
            continue
        if _all_dates(names.unique()) if kind in "OSU" else _calendar_labels(names.unique()):
            continue
        shown = first_few([repr(str(name)) for name in names.unique()], SHOWN_SERIES)
        raise DataError(
            f"{label} has no dates ({key}.date_column=null) and its column "
            f"{column!r} holds {len(lengths)} series one after another ({shown}), which would "
            f"be read as one; set {key}.id_column={column} to read them as separate series, or "
            "drop the column if the file holds one series."
        )


def _all_dates(names: np.ndarray) -> bool:
    """Whether the names, in the order their runs come, label the rows of one series: months
    in calendar order ('Jan', 'Feb', ...), or dates that go forward ('2024-01-02', ...). Tickers
    that happen to read as months (MAR, MAY) or years (Tokyo's 1801) come in another order or
    are all digits."""
    import pandas as pd

    words = [str(name).strip() for name in names]
    if all(word.lower() in MONTH_NUMBERS for word in words):
        numbers = np.array([MONTH_NUMBERS[word.lower()] for word in words])
        return bool((np.diff(numbers) % 12 == 1).all())
    if any(word.isdigit() for word in words):
        return False
    parsed = pd.to_datetime(pd.Series(words, dtype=object), errors="coerce", format="mixed")
    return bool(parsed.notna().all() and parsed.is_monotonic_increasing and parsed.is_unique)


def _calendar_labels(numbers: np.ndarray) -> bool:
    """Whether whole numbers, in the order their runs come, label one series' rows by its
    calendar: positions in a year (months, quarters, weeks, days: 1 to 53, wrapping at its
    end), years going forward, or months and days written YYYYMM and YYYYMMDD going forward.
    Ids (101, 202; 7203, 9984) are none of these; ids 1, 2, ... read as positions."""
    import pandas as pd

    if ((numbers >= 1) & (numbers <= MOST_POSITIONS_A_YEAR)).all():
        return True
    if ((numbers >= FIRST_YEAR) & (numbers <= LAST_YEAR)).all():
        return bool((np.diff(numbers) > 0).all())
    text = pd.Series(numbers).astype(str)
    for digits, form in ((6, "%Y%m"), (8, "%Y%m%d")):
        if (text.str.len() == digits).all():
            days = pd.to_datetime(text, format=form, errors="coerce")
            return bool(days.notna().all() and days.is_monotonic_increasing)
    return False
