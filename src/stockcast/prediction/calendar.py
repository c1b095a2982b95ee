"""Dates of future steps, continuing the input's own calendar."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stockcast.data.calendar import (
    BUSINESS_WEEK,
    WEEKDAY_NAMES,
    trading_week,
    weekday_names,
)
from stockcast.data.date_steps import RHYTHM_DATES
from stockcast.data.rhythm import date_rhythm
from stockcast.prediction.intraday_dates import intraday_dates
from stockcast.prediction.monthly_dates import month_step, months_after, semi_month_step

DAYS_A_WEEK = 7
# The latest dates whose weekday weekly data continues on: a series that moved its weekday
# continues on the new one.
RECENT_WEEKS = 10


def calendar_to_continue(dates: np.ndarray, read: int, metadata: Mapping[str, Any]) -> np.ndarray:
    """The dates whose calendar a forecast continues: all of them, unless they keep another
    rhythm than the one the model records for its data (`date_rhythm`) while their latest do,
    as the input's rhythm is judged on its latest dates (`window_dates_refusal`): months after
    years of quarters or of daily closes go on in months, not in quarters or days. The latest
    are the fewest that rhythm is judged on, else the `read` values the model reads."""
    fitted = metadata.get("date_rhythm")
    if fitted is None or date_rhythm(dates) == fitted:
        return dates
    for latest in (dates[-max(read, RHYTHM_DATES) :], dates[-read:]):
        if date_rhythm(latest) == fitted:
            return latest
    return dates


def continued_dates(dates: np.ndarray, horizon: int) -> tuple[np.ndarray, str]:
    """The `horizon` dates after the last one, and the frequency used to get them.

    pandas' inferred frequency when the dates are regular; whole months (or years, half-years,
    quarters, two months) when every date falls on the same day of its month or on a month's
    end, and business month ends or starts when every date falls within a few days of them (a
    month's last or first trading day), so yearly data with a missing year still continues on 1
    January (at the last date's time of day); data twice a month on its two days
    (`semi_month_step`); for daily data the days of the week it trades on (`trading_week`:
    business days for Monday to Friday; holidays are not known, so they are not skipped); for
    intraday data its rhythm (`intraday_dates`); for data of one, two or four weeks its weekday
    (`_weeks_after`); otherwise the median gap.
    A frequency pandas infers is used only where it gives back every date.
    """
    import pandas as pd

    index = pd.DatetimeIndex(dates)
    if len(index) < 2:
        raise ValueError("need at least two dates to continue a calendar")
    freq = pd.infer_freq(index) if len(index) >= 3 else None
    if freq is not None and not _regenerates(index, freq):
        # pandas can name a rule its own dates break: last Fridays with a fifth one among them
        # read as fourth Fridays.
        freq = None
    if freq == "D" and not all(trading_week(index.to_numpy("datetime64[ns]"))):
        # Days in a row that never reach a weekend (a week of closes, Monday to Friday) are
        # calendar days to pandas, but go on on the days of the week they trade on.
        freq = None
    if freq is None:
        # Months are read on the calendar days; the last date's time of day is kept (16:00
        # closes, 20:00 or 21:00 in UTC with daylight saving).
        days = index.normalize()
        freq = month_step(days) or semi_month_step(days)
        if freq is not None:
            future = months_after(days[-1], horizon, freq) + (index[-1] - days[-1])
            return future.to_numpy("datetime64[ns]"), _label(freq)
        intraday = intraday_dates(index.to_numpy("datetime64[ns]"), horizon)
        if intraday is not None:
            return intraday
        freq = _day_step(index)
        week = pd.Timedelta(days=DAYS_A_WEEK)
        weekly = isinstance(freq, pd.Timedelta) and freq >= week and not freq % week
        found = _weeks_after(index, freq, horizon) if weekly else None
        if found is not None:
            return found
    if freq == "B" or isinstance(freq, pd.offsets.CustomBusinessDay):
        # Counted from the last date even where it lies outside the week (a Saturday session):
        # pandas' range would roll it to the next trading day and drop that day.
        step = pd.offsets.BDay() if freq == "B" else freq
        future = pd.DatetimeIndex([index[-1] + k * step for k in range(1, horizon + 1)])
    else:
        future = pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:]
    return future.to_numpy("datetime64[ns]"), _label(freq)


def _regenerates(index: Any, freq: str) -> bool:
    """Whether `freq` from the first date gives every date."""
    import pandas as pd

    try:
        return pd.date_range(index[0], periods=len(index), freq=freq).equals(index)
    except ValueError:
        return False


def _weeks_after(index: Any, gap: Any, horizon: int) -> tuple[np.ndarray, str] | None:
    """Weekly data (every `gap`, whole weeks) continues on the weekday most of its latest
    `RECENT_WEEKS` dates fall on, at the last date's time: a week a holiday dated a day early
    (Thursday before Good Friday) is not where the next weeks fall. None where no weekday holds
    at least half of them."""
    import pandas as pd

    recent = index[-RECENT_WEEKS:].dayofweek
    counts = np.bincount(recent, minlength=DAYS_A_WEEK)
    # Of the weekdays held most often, the one held last (a move half-way back is a move).
    weekday = int(next(day for day in recent[::-1] if counts[day] == counts.max()))
    if 2 * counts[weekday] < len(recent):
        return None  # the 1st and 15th of each month, say: no weekday of their own
    step = index[-1] + gap
    # The weekday's date nearest a gap after the last date: a week a holiday dated a day early
    # or late is followed by the week after it, on its weekday.
    shift = (weekday - step.dayofweek + 3) % DAYS_A_WEEK - 3
    first = step + pd.Timedelta(days=shift)
    future = pd.DatetimeIndex([first + k * gap for k in range(horizon)])
    weeks = gap.days // DAYS_A_WEEK
    label = f"{weeks if weeks > 1 else ''}W-{WEEKDAY_NAMES[weekday].upper()}"
    return future.to_numpy("datetime64[ns]"), label


def _label(freq: Any) -> str:
    import pandas as pd

    if isinstance(freq, pd.offsets.CustomBusinessDay):
        return f"{freq.n if freq.n > 1 else ''}C ({freq.weekmask})"
    if isinstance(freq, pd.offsets.LastWeekOfMonth):
        return freq.freqstr
    return freq if isinstance(freq, str) else str(freq)


def _day_step(index: Any) -> Any:
    """Daily data steps over the days of the week it trades on (`trading_week`): business days
    ("B") for Monday to Friday, a custom business day for another week (Sunday to Thursday).
    Data a few days apart on such a week (Monday, Wednesday and Friday; weekdays with gaps)
    steps over the median count of its trading days between dates, never onto a day it does
    not trade on. Anything else steps by the median gap."""
    import pandas as pd

    median_gap = (index[1:] - index[:-1]).median()
    # A week or more apart, few dates say little about the week (a month's 15th moved to a
    # Monday reads as Mondays only): the calendar gap, without reading the week at all, unless
    # every date is a weekday and the gap is no whole number of weeks (every sixth business
    # day), whose calendar steps land on weekends: then the median count of business days.
    if median_gap >= pd.Timedelta(days=DAYS_A_WEEK):
        weeks = median_gap / pd.Timedelta(days=DAYS_A_WEEK)
        if weeks == int(weeks) or not np.asarray(BUSINESS_WEEK)[index.dayofweek].all():
            return median_gap
        return _trading_days_apart(index, weekday_names(BUSINESS_WEEK))
    week = trading_week(index.to_numpy("datetime64[ns]"))
    if all(week):
        return median_gap
    mask = weekday_names(week)
    if median_gap != pd.Timedelta(days=1):
        return _trading_days_apart(index, mask)
    if week == BUSINESS_WEEK:
        return "B"
    return pd.offsets.CustomBusinessDay(weekmask=mask)


def _trading_days_apart(index: Any, weekmask: str) -> Any:
    """A step of the median count of `weekmask`'s days between the dates (at least one)."""
    import pandas as pd

    days = index.normalize().to_numpy("datetime64[D]")
    apart = np.median(np.busday_count(days[:-1], days[1:], weekmask=weekmask))
    return pd.offsets.CustomBusinessDay(n=max(round(float(apart)), 1), weekmask=weekmask)
