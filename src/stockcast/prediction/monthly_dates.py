"""Future dates of data on a month's calendar: the same day of each month (or of every n months,
years included), months' edges or their trading days, or two days of each month."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from stockcast.data.calendar import BUSINESS_WEEK
from stockcast.data.rhythm import DAYS_A_WEEK

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


def months_after(last: Any, horizon: int, freq: Any) -> Any:
    """The `horizon` dates after `last` on `freq`, a rule `month_step` or `semi_month_step`
    found."""
    import pandas as pd

    if isinstance(freq, str) and freq.endswith(TRADING_MONTH_EDGES):
        return _trading_months(last, horizon, freq)
    if isinstance(freq, str) and freq.endswith(("MS", "ME")):
        # From the edge of the last date's month: a last date just off it (2 January among
        # month starts) would otherwise roll forward and lose a month.
        edge = pd.offsets.MonthBegin() if freq.endswith("MS") else pd.offsets.MonthEnd()
        last = edge.rollback(last) if freq.endswith("MS") else edge.rollforward(last)
    return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]


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
