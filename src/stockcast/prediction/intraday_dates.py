"""Future times of regular intraday data: the sessions or the hours of the week it holds."""

from __future__ import annotations

from typing import Any

import numpy as np

from stockcast.data.calendar import DAY, weekday_names, weekdays
from stockcast.data.intraday import (
    ONE_DAY,
    IntradayRhythm,
    intraday_rhythm,
    intraday_sessions,
    mondays_of,
)


def intraday_dates(times: np.ndarray, horizon: int) -> tuple[np.ndarray, str] | None:
    """Regular intraday data continues its rhythm (`intraday_rhythm`), so its forecasts fall on
    times the series has, where the ledger can mature them: sessions at their times (a lunch
    break or UTC midnight inside them) on the days they start on, following a daylight-saving
    change once a whole session has passed; data held around the clock on the times of the
    week its latest whole weeks hold (futures' hours skip their daily halt and their weekend),
    or under two whole weeks by its bar. None for other data. Holidays and half-days are not
    known."""
    import pandas as pd

    rhythm = intraday_rhythm(times)
    if rhythm is None:
        return None
    if rhythm.offsets is not None:
        future, label = _session_dates(times, rhythm, horizon), _session_label(rhythm)
    elif rhythm.weekly is not None:
        future = _weekly_dates(times[-1], rhythm.weekly, horizon)
        label = f"the times its weeks hold ({len(rhythm.weekly)} a week)"
    else:
        return None
    return pd.DatetimeIndex(future[:horizon]).to_numpy("datetime64[ns]"), label


def _session_dates(times: np.ndarray, rhythm: IntradayRhythm, horizon: int) -> list[Any]:
    """The rest of the session under way, then each next session on the days sessions start on."""
    assert rhythm.offsets is not None and rhythm.start is not None
    under_way = intraday_sessions(times, rhythm.gap)[-1][0]
    future = [under_way + offset for offset in rhythm.offsets if under_way + offset > times[-1]]
    day = under_way.astype(DAY)
    while len(future) < horizon:
        day = day + 1
        if rhythm.week[int(weekdays(day.astype(np.int64)))]:
            future += [day + rhythm.start + offset for offset in rhythm.offsets]
    return future


def _weekly_dates(last: np.datetime64, weekly: np.ndarray, horizon: int) -> list[Any]:
    """The times of the week after `last`, week after week."""
    week, future = mondays_of(np.array([last]))[0], []
    while len(future) < horizon:
        future += [week + slot for slot in weekly if week + slot > last]
        week = week + 7 * ONE_DAY
    return future


def _session_label(rhythm: IntradayRhythm) -> str:
    return f"session ({rhythm.per_day} a day, {weekday_names(rhythm.week)})"
