"""Dates of future steps, continuing the input's own calendar."""

from __future__ import annotations

import numpy as np

# Daily data only on weekdays reads as business days even when holidays break pandas' inference.
WEEKDAYS = 5


def future_dates(dates: np.ndarray, horizon: int) -> tuple[np.ndarray, str]:
    """The `horizon` dates after the last one, and the frequency used to get them.

    pandas' inferred frequency when the dates are regular; business days when every date is a
    weekday and the usual gap is one day (holidays are not known, so they are not skipped);
    otherwise the median gap.
    """
    import pandas as pd

    index = pd.DatetimeIndex(dates)
    if len(index) < 2:
        raise ValueError("need at least two dates to continue a calendar")
    freq = pd.infer_freq(index) if len(index) >= 3 else None
    if freq is None:
        median_gap = (index[1:] - index[:-1]).median()
        weekdays_only = bool((index.dayofweek < WEEKDAYS).all())
        freq = "B" if weekdays_only and median_gap == pd.Timedelta(days=1) else median_gap
    future = pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:]
    label = freq if isinstance(freq, str) else str(freq)
    return future.to_numpy("datetime64[ns]"), label


def format_date(value: np.datetime64) -> str:
    """ISO date, with the time only when it is not midnight (intraday data)."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
