"""Reading a table's date column: text dates, whole numbers of a documented form, quarters.

The column's form decides how it is read: numbers by their digits and period codes by their
first days (date_column.py, which also words every refusal), text by pandas, zoned times in UTC
and zoned dates at local midnight as their days. Dates written year last (01/02/2010) are put in
the order their data shows first (year_last.py).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from stockcast.data.date_column import DateColumn
from stockcast.data.period_codes import all_periods
from stockcast.data.year_last import month_names_as_iso, year_last_as_iso

# A date at local midnight with its UTC offset (2024-02-23 00:00:00+01:00), as pandas writes a
# zoned daily index: a calendar day, which UTC would move to the day before.
LOCAL_MIDNIGHT = re.compile(
    r"^\s*(\d{4}-\d{2}-\d{2})[ T]00:00(?::00(?:\.0+)?)?\s*[+-]\d{2}(?::?\d{2})?\s*$"
)


def read_date_column(column: Any, label: str, key: str) -> Any:
    """The column as timezone-naive datetime64[ns] (UTC for zoned times, the local day for zoned
    dates all at local midnight), or a DataError naming the first row that is not a date.
    `label` names the file, `key` the config section."""
    import pandas as pd

    # By position: a Parquet table joined from several frames repeats its index labels, which
    # the rules below would look cells up by. The column's own index comes back at the end.
    index, column = column.index, column.reset_index(drop=True)
    # A date padded with spaces in some rows (` 2024-01-05`, an edited cell) is the date, as an
    # id or a value is: pandas read it as another form than the rows without them.
    if column.dtype == object or pd.api.types.is_string_dtype(column):
        column = column.map(lambda cell: cell.strip() if isinstance(cell, str) else cell)
    where = DateColumn(column, label, key)
    if isinstance(column.dtype, pd.PeriodDtype):
        # A Parquet period column (pandas' period_range index): each period's first day, as a
        # quarter or a month written as text reads.
        column = column.dt.start_time
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        dates = where.from_numbers()
    elif all_periods(column):
        dates = where.from_periods()
    else:
        where.refuse_zone_names()
        column = where.without_zone_brackets(column)
        in_full = month_names_as_iso(year_last_as_iso(column, label), label)
        dates = _text_dates(_local_days(in_full))
    where.refuse_unreadable(dates.isna().to_numpy())
    if getattr(dates.dt, "tz", None) is not None:
        dates = _without_zone(dates)
    where.refuse_out_of_range(dates)
    dates = dates.astype("datetime64[ns]")
    where.refuse_one_instant(dates)
    return dates.set_axis(index)


def _local_days(column: Any) -> Any:
    """Text dates all at local midnight with an offset as the days they name (their offsets
    may differ with daylight saving time); any other column as it is."""
    present = column.dropna()
    if not len(present) or not all(isinstance(v, str) for v in present):
        return column
    days = present.str.extract(LOCAL_MIDNIGHT)[0]
    return column if days.isna().any() else days.reindex(column.index)


def _without_zone(dates: Any) -> Any:
    """Zoned dates as naive ones: those all at local midnight (a zoned daily column, as
    Parquet keeps it) as their local days, other times in UTC."""
    if (dates.dropna() == dates.dropna().dt.normalize()).all():
        return dates.dt.tz_localize(None)
    return dates.dt.tz_convert("UTC").dt.tz_localize(None)


def _text_dates(column: Any) -> Any:
    """Dates written as text, zoned ones in UTC. Times with different UTC offsets (a zone's
    daylight saving time: 16:00-05:00 in winter, 16:00-04:00 in summer) are read in UTC as
    well; without `utc=True` pandas parses them to one Timestamp per offset (and from pandas 3
    refuses them), while with it a column mixing zoned and plain times would read the plain
    ones as UTC, so it is used only where every zoned time already parsed."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        # pandas' notices that it reads element by element or guessed the day first: the checks
        # after this one (formats, zones, day-month order) decide a column, so they only add noise.
        warnings.filterwarnings("ignore", "Could not infer format", UserWarning)
        warnings.filterwarnings("ignore", "Parsing dates in", UserWarning)
        try:
            dates = pd.to_datetime(column, errors="coerce")
        except ValueError:
            dates = None
        if dates is None or dates.dtype == object:
            dates = pd.to_datetime(column, errors="coerce", utc=True)
    return dates
