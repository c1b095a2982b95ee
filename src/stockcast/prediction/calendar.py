"""Dates of future steps, continuing the input's own calendar."""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)

# A day of the month every month has.
SHORTEST_MONTH = 28
# The latest second day pandas' semi-month rules take (SMS-27, SME-27).
SEMI_MONTH_LAST_DAY = 27
# How far a month's first or last trading day may lie from its calendar edge: a weekend and a
# holiday beside it.
MONTH_EDGE_DAYS = 3
# The share of such dates that must lie that near (a long closure moves the odd one further),
# and the half of the month every one of them lies in.
MONTH_EDGE_SHARE = 0.9
HALF_MONTH = 15
# Dates before the latest that must say a calendar month edge before it is continued on.
MONTH_EDGE_MIN_DATES = 3
TRADING_MONTH_EDGES = ("BME", "BMS")
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
            future = _months_after(days[-1], horizon, freq) + (index[-1] - days[-1])
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


def _months_after(last: Any, horizon: int, freq: Any) -> Any:
    import pandas as pd

    if isinstance(freq, str) and freq.endswith(TRADING_MONTH_EDGES):
        return _trading_months(last, horizon, freq)
    if isinstance(freq, str) and freq.endswith(("MS", "ME")):
        # From the edge of the last date's month: a last date just off it (2 January among
        # month starts) would otherwise roll forward and lose a month.
        edge = pd.offsets.MonthBegin() if freq.endswith("MS") else pd.offsets.MonthEnd()
        last = edge.rollback(last) if freq.endswith("MS") else edge.rollforward(last)
    return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]


def _label(freq: Any) -> str:
    import pandas as pd

    if isinstance(freq, pd.offsets.CustomBusinessDay):
        return f"{freq.n if freq.n > 1 else ''}C ({freq.weekmask})"
    if isinstance(freq, pd.offsets.LastWeekOfMonth):
        return freq.freqstr
    return freq if isinstance(freq, str) else str(freq)


def month_step(index: Any) -> Any:
    """`<n>MS` or `<n>ME` (n months, 12 for yearly data) when the dates are midnights on the
    first of their months or on month ends; n months for another shared day of the month (the
    30th, February's last in February, for calendar dates: some fall on weekends); `<n>BME` or
    `<n>BMS` for months' last or first trading days; the last weekday of each month (its last
    Friday); None otherwise. A gap in days would drift off the calendar: 365 days after 1
    January 1704 is 31 December."""
    import pandas as pd

    if not (index == index.normalize()).all():
        return None
    months = np.asarray(index.year * 12 + index.month)
    step = int(np.median(np.diff(months)))
    if step < 1:
        return None
    # The calendar's month ends: `is_month_end` would judge by a frequency pandas inferred for
    # the index (business month ends, 29 March 2024 among them, for month-end closes).
    if (index.day == index.days_in_month).all():
        return f"{step}ME"
    if (index.day == 1).all():
        return f"{step}MS"
    weekend = not np.asarray(BUSINESS_WEEK)[index.dayofweek].all()
    # Calendar month ends (or starts), weekends among them, but for a date or two on a month's
    # last (first) trading day, as the latest row of a download: the calendar's, not a 31-day
    # step off it.
    # The share is of the dates before the latest, so a short input may end on a trading day;
    # a few of them at least, or one date would decide (28 February before a 30 March).
    enough = len(index) > MONTH_EDGE_MIN_DATES
    calendar = enough and weekend and (np.diff(months) >= 1).all()
    # A latest date further off (a download mid-month) stands for its month, not yet over:
    # monthly data only, as a quarter's or a year's partial row is no month's value.
    to_end = np.asarray((index + pd.offsets.MonthEnd(0) - index).days)
    from_start = np.asarray(index.day) - 1
    for near, rule, edges in ((to_end, "ME", "ends"), (from_start, "MS", "starts")):
        on_edge = (near[:-1] == 0).mean() >= MONTH_EDGE_SHARE
        before = (near[:-1] <= MONTH_EDGE_DAYS).all()
        partial = near[-1] > MONTH_EDGE_DAYS
        if calendar and on_edge and before and (not partial or step == 1):
            if partial:
                _warn_partial_month(index[-1], edges)
            return f"{step}{rule}"
    if (index.day == index.day[0]).all() and index.day[0] <= SHORTEST_MONTH:
        return pd.DateOffset(months=step)
    day = int(index.day.max())
    shorter = (index.days_in_month < day) & (index.day >= SHORTEST_MONTH)
    if weekend and ((index.day == day) | shorter).all():
        # The 30th of every month, February's end (or 28th) in February: calendar days, as its
        # weekend dates say, not a trading calendar.
        return pd.DateOffset(months=step, day=day)
    if not weekend and (np.diff(months) >= 1).all():
        # A month's first or last trading day (a weekend or a holiday moves it off the
        # calendar's): business month starts or ends. A long closure (Lunar New Year, Golden
        # Week) moves one now and then further: most near the edge, all in its half of the month.
        # A latest date off them (a download mid-month) stands for its month, as for calendar
        # months: monthly data only, judged on the dates before it.
        near_end = np.asarray((index + pd.offsets.MonthEnd(0) - index).days <= MONTH_EDGE_DAYS)
        near_start = np.asarray(index.day <= 1 + MONTH_EDGE_DAYS)
        late = np.asarray(index.day > HALF_MONTH)
        for near, half, rule, edges in (
            (near_end, late, "BME", "ends"),
            (near_start, ~late, "BMS", "starts"),
        ):
            if near.mean() >= MONTH_EDGE_SHARE and half.all():
                return f"{step}{rule}"
            partial = enough and step == 1 and not near[-1]
            if partial and near[:-1].mean() >= MONTH_EDGE_SHARE and half[:-1].all():
                _warn_partial_month(index[-1], edges)
                return f"{step}{rule}"
    weekday = index.dayofweek[0]
    last_week = (index.days_in_month - index.day < DAYS_A_WEEK).all()
    if step == 1 and (index.dayofweek == weekday).all() and last_week:
        # The last Friday (or another weekday) of each month, some far from the month's end.
        return pd.offsets.LastWeekOfMonth(weekday=int(weekday))
    return None


def _warn_partial_month(latest: Any, edges: str) -> None:
    log.warning(
        "the input's latest date %s is not on the month %s the dates before it keep: it is read "
        "as %s's value, and the forecast continues on the month %s after it",
        latest.date().isoformat(),
        edges,
        latest.strftime("%B %Y"),
        edges,
    )


def semi_month_step(index: Any) -> str | None:
    """Twice a month on two days of it: the 1st and another day (`SMS-<day>`, pandas' semi-month
    start) or a day and the month's end (`SME-<day>`); None otherwise. pandas infers neither,
    and their gaps (13-16 days) would otherwise read as a fortnight that drifts off the days."""
    from pandas.tseries.frequencies import to_offset

    if len(index) < 3 or not (index == index.normalize()).all():
        return None
    days = index.day[(index.day != index.days_in_month) & (index.day != 1)]
    if len(days) == 0 or not (days == days[0]).all() or not 1 < days[0] <= SEMI_MONTH_LAST_DAY:
        return None
    if not index.to_period("M").duplicated().any():
        return None
    for rule in (f"SMS-{days[0]}", f"SME-{days[0]}"):
        # On the rule's days, with a date missing here and there (as months may miss one).
        if all(to_offset(rule).is_on_offset(date) for date in index):
            return rule
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
