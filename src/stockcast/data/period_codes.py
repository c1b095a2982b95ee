"""Dates written as period codes, as statistics offices publish them: quarters (1990Q2,
1990-Q2, 1990 Q2, 1959:Q1, Q2 1990) and months (1990M04, 1990M4, 1990-M04, M04 1990, as IMF
and Eurostat).
pandas reads none of them as the period they name (1990-m1 comes out as one second past
midnight of 1990), so each is read here as its period's first day."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

QUARTER = re.compile(
    r"^\s*(?:(?P<year>\d{4})[-\s:]?Q(?P<quarter>[1-4])|Q(?P<quarter_first>[1-4])[-\s]?"
    r"(?P<year_last>\d{4}))\s*$",
    re.IGNORECASE,
)
MONTH_CODE = re.compile(
    r"^\s*(?:(?P<year>\d{4})[-\s:]?M(?P<month>1[0-2]|0?[1-9])|M(?P<month_first>1[0-2]|0?[1-9])"
    r"[-\s]?(?P<year_last>\d{4}))\s*$",
    re.IGNORECASE,
)
# What a period code looks like, valid or not: a column of them is read as periods, and a cell
# such as 1990M13 is refused by its own row (pandas would read 1990-m13 as seconds).
LOOKS_LIKE_PERIOD = re.compile(
    r"^\s*(?:\d{4}[-\s:]?[MQ]\d{1,2}|[MQ]\d{1,2}[-\s]?\d{4})\s*$", re.IGNORECASE
)
MONTHS_A_QUARTER = 3


def period_start(text: Any, earliest: np.datetime64, latest: np.datetime64) -> Any:
    """The first day of a quarter or month written as a period code; NaT for a period in a
    year outside `earliest` to `latest` (refused then as an unreadable date); None for
    anything else."""
    import pandas as pd

    if not isinstance(text, str):
        return None
    quarter = QUARTER.match(text)
    month = MONTH_CODE.match(text)
    if quarter is not None:
        year = int(quarter["year"] or quarter["year_last"])
        number = MONTHS_A_QUARTER * int(quarter["quarter"] or quarter["quarter_first"]) - 2
    elif month is not None:
        year = int(month["year"] or month["year_last"])
        number = int(month["month"] or month["month_first"])
    elif LOOKS_LIKE_PERIOD.match(text):
        return pd.NaT  # a period that does not exist (1990M13, Q5 1990)
    else:
        return None
    if not earliest.astype(object).year < year < latest.astype(object).year:
        return pd.NaT
    return pd.Timestamp(year, number, 1)


def all_periods(column: Any) -> bool:
    """Every cell present looks like a period code (the ones that are none are refused by
    their rows)."""
    present = column.dropna()
    return len(present) > 0 and all(
        isinstance(v, str) and LOOKS_LIKE_PERIOD.match(v) for v in present
    )
