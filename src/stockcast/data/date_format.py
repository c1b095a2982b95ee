"""How forecast, input and ledger dates are written: ISO dates, with their times for intraday
data, one format for every date of one output."""

from __future__ import annotations

import numpy as np


def holds_times(*dates: np.ndarray | None) -> bool:
    """Whether any of the dates has a time of day other than midnight (intraday data)."""
    import pandas as pd

    found = [pd.DatetimeIndex(np.ravel(d)) for d in dates if d is not None and np.size(d)]
    return any(bool((index != index.normalize())[index.notna()].any()) for index in found)


def format_date(value: np.datetime64, with_time: bool | None = None) -> str:
    """ISO date, with the time where `with_time` (None: where it is not midnight). Intraday
    data is written with its times throughout (`holds_times`): its midnight bar as a bare date
    mixed two formats in one column, which pandas could not parse."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    timed = stamp != stamp.normalize() if with_time is None else with_time
    return stamp.isoformat() if timed else stamp.date().isoformat()


def format_dates(
    dates: np.ndarray, with_time: bool | None = None, whole_seconds: bool = False
) -> list[str]:
    """`format_date` of each, all in one format: with times where any holds one (or
    `with_time`); vectorised for the common all-midnight case (thousands of ids).
    `whole_seconds`: times cut to the second, as the forecast ledger keys its dates (a ledger
    written so must keep matching)."""
    import pandas as pd

    index = pd.DatetimeIndex(np.ravel(dates))
    if not (holds_times(dates) if with_time is None else with_time):
        return list(index.strftime("%Y-%m-%d"))
    stamps = index.values
    if whole_seconds or (stamps == stamps.astype("datetime64[s]")).all():
        # Whole seconds, as bars are: vectorised, as isoformat writes them (a year of minutes).
        return np.datetime_as_string(stamps, unit="s").tolist()
    return [stamp.isoformat() for stamp in index]
