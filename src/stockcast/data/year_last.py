"""Dates written with the year last (01/02/2010, 1.2.2010 16:00, 01/02/10): which is the day.

pandas reads month first from a column's first date, and two-digit years (01/02/10) cell by
cell, month first unless only day first reads (13/02/10), so a column is rewritten YYYY-MM-DD
in the order its data shows before pandas reads it, a two-digit year in a century that does not
move with today's date. Dates with a month's name (31-May-76, May-76) are rewritten the same
way, so their year too reads in that century. The rules are a module of their own because they
read the column as a whole (its largest numbers, the steps between its dates, one year length),
where the rest of the date reading goes cell by cell.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from stockcast.errors import DataError

# Day and month in either order, the year (four digits or two), and what follows (a time).
YEAR_LAST = re.compile(r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)(.*)$")
# A number over this is a day, never a month.
MONTHS = 12
# Two-digit years name the hundred years from this one, as POSIX and Python's strptime read `%y`
# (69-99 are 1969-1999, 00-68 are 2000-2068). pandas hands such years to dateutil, which puts
# them within 50 years of today (76 is 1976 in 2026 but 2076 from 2027), so one file pinned by
# `data.as_of` would read differently in a later year.
FIRST_TWO_DIGIT_YEAR = 1969
CENTURY = 100
# A month's name (or its abbreviation) and the year: `31-May-76`, `Jun-04-76`, `May-76`
# (monthly data as spreadsheets write it), `31 May 1976`. pandas hands two-digit years to
# dateutil too, and reads a column in the form of its first date, where `May` is both a name
# and its abbreviation: a column starting 31-May-1976 refused 01-Jun-1976. Such columns are
# written YYYY-MM-DD here.
MONTHS_IN_FULL = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip
MONTH_NUMBERS = {
    **{month: number for number, month in enumerate(MONTHS_IN_FULL, 1)},
    **{month[:3]: number for number, month in enumerate(MONTHS_IN_FULL, 1)},
    "sept": 9,
}
# After the year, nothing but a time (and its offset): `Jun-04-2024` is 4 June, not June 2004.
TIME_AFTER = r"(?P<rest>(?:[ T]\d{1,2}:\d{2}.*)?)\s*$"
DAY_MONTH_NAME_YEAR = re.compile(
    r"^\s*(?P<day>\d{1,2})(?P<sep>[-/ ])(?P<month>[A-Za-z]{3,9})\.?(?P=sep)"
    r"(?P<year>\d{4}|\d{2})(?!\d)" + TIME_AFTER
)
# The month's name first, then the day and the year: `Jun-04-76`, `Jun 04 2024`, `June 4, 2024`.
MONTH_DAY_YEAR = re.compile(
    r"^\s*(?P<month>[A-Za-z]{3,9})\.?(?P<sep>[-/ ])(?P<day>\d{1,2})(?:(?P=sep)|,\s*)"
    r"(?P<year>\d{4}|\d{2})(?!\d)" + TIME_AFTER
)
# Without a day: a dash or slash before the year, or a space before four digits (`May 31` is a
# day, not 2031).
MONTH_NAME_YEAR = re.compile(
    r"^\s*(?P<month>[A-Za-z]{3,9})\.?(?:[-/](?P<year>\d{4}|\d{2})|\s(?P<long>\d{4}))(?!\d)"
    + TIME_AFTER
)
# Dates at even steps (daily with weekends and holidays, weekly, monthly) have no gap over this
# many times their median gap, nor under their median over it; day-first monthly dates read
# month first jump 354 days after 1s, and half-year starts 6 days, then 359.
EVEN_GAP_MULTIPLE = 4


def year_last_as_iso(column: Any, label: str) -> Any:
    """The column with dates written year last rewritten YYYY-MM-DD (their time kept, a
    two-digit year by `four_digit_year`), the day told from the month by the data:
    a first number over 12 is a day, a second one a day of month-first dates. Where no number
    is over 12, the order whose dates fall at even steps: monthly data written day first
    (01/02/2010, 01/03/2010, ...) read month first jumps a day eleven times, then 354 days.
    Where both orders (or neither) do, day first for dates written with points (01.02.2010:
    the locales that write them put the day first), else month first, as pandas reads them
    (01/02/2010). Any other column is
    returned as it is; `label` names the file in the refusal of a column written in both
    orders."""
    present = column.dropna()
    if not _may_match(present, (YEAR_LAST,)):
        return column
    parts = present.str.extract(YEAR_LAST)
    if parts[0].isna().any():
        return column
    year_first = _year_first_iso(parts, column, label)
    if year_first is not None:
        return year_first.reindex(column.index)
    parts[3] = _four_digit_years(column, parts[3], label)
    first, second = parts[0].astype(int), parts[2].astype(int)
    day_first, month_first = bool((first > MONTHS).any()), bool((second > MONTHS).any())
    if day_first and month_first:
        _refuse_both_orders(column, second, label)
    if not (day_first or month_first):
        by_day, by_month = _even_steps(parts, day_first=True), _even_steps(parts, day_first=False)
        dotted = bool((parts[1] == ".").all())
        day_first = (by_day and not by_month) or (by_day == by_month and dotted)
    day, month = (parts[0], parts[2]) if day_first else (parts[2], parts[0])
    iso = parts[3] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + parts[4]
    return iso.reindex(column.index)


def month_names_as_iso(column: Any, label: str) -> Any:
    """The column with dates written with a month's name rewritten YYYY-MM-DD (the first of
    the month where no day is written; a two-digit year by `four_digit_year`, their time kept);
    any other column as it is. `label` names the file in the refusal of a column whose years
    have two digits in some dates and four in others."""
    present = column.dropna()
    patterns = (DAY_MONTH_NAME_YEAR, MONTH_DAY_YEAR, MONTH_NAME_YEAR)
    if not _may_match(present, patterns):
        return column
    for pattern in patterns:
        parts = present.str.extract(pattern)
        if "long" in parts:
            long = parts.pop("long")
            parts["year"] = parts["year"].where(long.isna(), long)
        months = parts["month"].str.lower().map(MONTH_NUMBERS)
        if parts["year"].isna().any() or months.isna().any():
            continue
        years = _four_digit_years(column, parts["year"], label)
        days = parts["day"].str.zfill(2) if "day" in parts else "01"
        iso = years + "-" + months.astype(int).astype(str).str.zfill(2) + "-" + days
        return (iso + parts["rest"]).reindex(column.index)
    return column


def _may_match(present: Any, patterns: tuple[re.Pattern[str], ...]) -> bool:
    """Whether a column of text may be written so: its first value is (a column of ISO dates,
    the usual case, is then passed over without a regex over every row)."""
    if not len(present) or not isinstance(present.iloc[0], str):
        return False
    if not any(pattern.match(present.iloc[0]) for pattern in patterns):
        return False
    return all(isinstance(value, str) for value in present)


def four_digit_year(year: int) -> int:
    """The year a two-digit `year` (0-99) names: the same one whatever today's date."""
    return FIRST_TWO_DIGIT_YEAR + (year - FIRST_TWO_DIGIT_YEAR) % CENTURY


def _four_digit_years(column: Any, years: Any, label: str) -> Any:
    """The years (text) with two digits written with their century, by `four_digit_year`; a
    column writing some years with two digits and others with four is refused: `10` after
    `1910` would read as 2010, and `03/01/2000` after `31/12/99` was read month first."""
    short = years.str.len() == 2
    if not short.any():
        return years
    if not short.all():
        other = years.index[(short != short.iloc[0]).to_numpy()][0]
        row, first = column.index.get_loc(other), column.index.get_loc(years.index[0])
        raise DataError(
            f"{label} writes the year of {column.loc[other]!r} at data row {row + 1} in column "
            f"{column.name!r} with {len(years.loc[other])} digits, and that of its first date "
            f"{column.iloc[first]!r} with {len(years.iloc[0])}; write every year with four "
            "digits."
        )
    return years.where(~short, years.map(lambda y: str(four_digit_year(int(y)))))


def _year_first_iso(parts: Any, column: Any, label: str) -> Any | None:
    """Dates with two-digit years whose rows are in date order only when read year first
    (21-01-04, 21-01-05 as 2021-01-04, 2021-01-05, where day first read 21 January 2004, 21
    January 2005 and scattered the rows over thirty years), rewritten YYYY-MM-DD with their
    time; None for every other column (an unsorted file, or one in order either way), read
    year last."""
    if not (parts[3].str.len() == 2).all() or not (parts[0].str.len() == 2).all():
        return None
    years = _four_digit_years(column, parts[0], label)
    iso = years + "-" + parts[2].str.zfill(2) + "-" + parts[3]
    if not _in_row_order(iso):
        return None
    last = _four_digit_years(column, parts[3], label)
    for day, month in ((parts[0], parts[2]), (parts[2], parts[0])):
        if _in_row_order(last + "-" + month.str.zfill(2) + "-" + day.str.zfill(2)):
            return None
    return iso + parts[4]


def _in_row_order(iso: Any) -> bool:
    """Whether YYYY-MM-DD texts are days of the calendar that rise (or fall) row by row."""
    try:
        days = iso.to_numpy(dtype="datetime64[D]").astype(np.int64)
    except ValueError:
        return False
    steps = np.diff(days)
    return bool((steps >= 0).all() or (steps <= 0).all())


def _even_steps(parts: Any, day_first: bool) -> bool:
    """Whether year-last dates read in this order fall at even steps (`_even`)."""
    day, month = (parts[0], parts[2]) if day_first else (parts[2], parts[0])
    return _even(parts[3] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2))


def _even(iso: Any) -> bool:
    """Whether YYYY-MM-DD dates fall at even steps: every gap between the sorted days within
    `EVEN_GAP_MULTIPLE` times their median gap, up or down (weekends and holidays stay within).
    The bound below matters where two gap sizes alternate: their median then lies between
    them, and half-year starts read month first (6 and 359 days) stayed under the one above."""
    days = np.unique(iso.to_numpy(dtype="datetime64[D]"))
    gaps = np.diff(days).astype(np.int64)
    median = np.median(gaps)
    return len(gaps) < 2 or bool(
        gaps.max() <= EVEN_GAP_MULTIPLE * median and EVEN_GAP_MULTIPLE * gaps.min() >= median
    )


def _refuse_both_orders(column: Any, second: Any, label: str) -> None:
    """Year-last dates some of which are written day first, others month first."""
    row = int(column.index.get_loc(second.index[(second > MONTHS).to_numpy()][0]))
    raise DataError(
        f"{label} writes some dates day first and {column.iloc[row]!r} at data row "
        f"{row + 1} month first in column {column.name!r}; write every date as YYYY-MM-DD "
        "(2010-02-01 for 1 February 2010)."
    )
