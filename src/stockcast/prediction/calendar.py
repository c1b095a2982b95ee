"""Dates of future steps, continuing the input's own calendar."""

from __future__ import annotations

from typing import Any

import numpy as np

from stockcast.data.calendar import BUSINESS_WEEK, DAY, trading_week, weekday_names, weekdays
from stockcast.data.intraday import (
    ONE_DAY,
    IntradayRhythm,
    intraday_rhythm,
    intraday_sessions,
    mondays_of,
)

# A day of the month every month has.
SHORTEST_MONTH = 28
# How far a month's first or last trading day may lie from its calendar edge: a weekend and a
# holiday beside it.
MONTH_EDGE_DAYS = 3
TRADING_MONTH_EDGES = ("BME", "BMS")


def future_dates(dates: np.ndarray, horizon: int) -> tuple[np.ndarray, str]:
    """The `horizon` dates after the last one, and the frequency used to get them.

    pandas' inferred frequency when the dates are regular; whole months (or years, quarters)
    when every date falls on the same day of its month or on a month's end, and business month
    ends or starts when every date falls within a few days of them (a month's last or first
    trading day), so yearly data with a missing year still continues on 1 January (at the last
    date's time of day); for daily data the days of the week it trades on
    (`trading_week`: business days for Monday to Friday; holidays are not known, so they are not
    skipped); for intraday data its rhythm (`_intraday_dates`); otherwise the median gap.
    """
    import pandas as pd

    index = pd.DatetimeIndex(dates)
    if len(index) < 2:
        raise ValueError("need at least two dates to continue a calendar")
    freq = pd.infer_freq(index) if len(index) >= 3 else None
    if freq is None:
        # Months are read on the calendar days; the last date's time of day is kept (16:00
        # closes, 20:00 or 21:00 in UTC with daylight saving).
        days = index.normalize()
        freq = month_step(days)
        if freq is not None:
            future = _months_after(days[-1], horizon, freq) + (index[-1] - days[-1])
            return future.to_numpy("datetime64[ns]"), _label(freq)
        intraday = _intraday_dates(index.to_numpy("datetime64[ns]"), horizon)
        if intraday is not None:
            return intraday
        freq = _day_step(index)
    if freq == "B" or isinstance(freq, pd.offsets.CustomBusinessDay):
        # Counted from the last date even where it lies outside the week (a Saturday session):
        # pandas' range would roll it to the next trading day and drop that day.
        step = pd.offsets.BDay() if freq == "B" else freq
        future = pd.DatetimeIndex([index[-1] + k * step for k in range(1, horizon + 1)])
    else:
        future = pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:]
    return future.to_numpy("datetime64[ns]"), _label(freq)


def _months_after(last: Any, horizon: int, freq: Any) -> Any:
    import pandas as pd

    if isinstance(freq, str) and freq.endswith(TRADING_MONTH_EDGES):
        return _trading_months(last, horizon, freq)
    return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]


def _label(freq: Any) -> str:
    import pandas as pd

    if isinstance(freq, pd.offsets.CustomBusinessDay):
        return f"C ({freq.weekmask})"
    return freq if isinstance(freq, str) else str(freq)


def month_step(index: Any) -> Any:
    """`<n>MS` or `<n>ME` (n months, 12 for yearly data) when the dates are midnights on the
    first of their months or on month ends, n months for another shared day of the month; None
    otherwise. A gap in days would drift off the calendar: 365 days after 1 January 1704 is 31
    December."""
    import pandas as pd

    if not (index == index.normalize()).all():
        return None
    months = np.asarray(index.year * 12 + index.month)
    step = int(np.median(np.diff(months)))
    if step < 1:
        return None
    if index.is_month_end.all():
        return f"{step}ME"
    if (index.day == 1).all():
        return f"{step}MS"
    if (index.day == index.day[0]).all() and index.day[0] <= SHORTEST_MONTH:
        return pd.DateOffset(months=step)
    if (np.diff(months) >= 1).all():
        # A month's first or last trading day (a weekend or a holiday moves it off the
        # calendar's): business month starts or ends.
        if ((index + pd.offsets.MonthEnd(0) - index).days <= MONTH_EDGE_DAYS).all():
            return f"{step}BME"
        if (index.day <= 1 + MONTH_EDGE_DAYS).all():
            return f"{step}BMS"
    return None


def _trading_months(last: Any, horizon: int, freq: str) -> Any:
    """The first (BMS) or last (BME) business day of each month `freq` steps to after the last
    date's month: counted from that month, so a last date a holiday moved off its month's edge
    (28 March 2024, Good Friday the 29th) still continues in April."""
    import pandas as pd

    step = int(freq[: -len("BME")] or 1)
    month = pd.Timestamp(last).to_period("M").to_timestamp()
    edge = (
        pd.offsets.BusinessMonthEnd(0) if freq.endswith("BME") else pd.offsets.BusinessMonthBegin(0)
    )
    return pd.DatetimeIndex(
        [month + pd.DateOffset(months=step * k) + edge for k in range(1, horizon + 1)]
    )


def _intraday_dates(times: np.ndarray, horizon: int) -> tuple[np.ndarray, str] | None:
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


def _day_step(index: Any) -> Any:
    """Daily data steps over the days of the week it trades on (`trading_week`): business days
    ("B") for Monday to Friday, a custom business day for another week (Sunday to Thursday);
    anything else steps by the median gap."""
    import pandas as pd

    median_gap = (index[1:] - index[:-1]).median()
    if median_gap != pd.Timedelta(days=1):
        return median_gap
    week = trading_week(index.to_numpy("datetime64[ns]"))
    if all(week):
        return median_gap
    if week == BUSINESS_WEEK:
        return "B"
    return pd.offsets.CustomBusinessDay(weekmask=weekday_names(week))


def format_date(value: np.datetime64) -> str:
    """ISO date, with the time only when it is not midnight (intraday data)."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
