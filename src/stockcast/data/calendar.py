"""The business-day calendar markets live on, and reading the dates a user types.

Business days are Monday to Friday (numpy's default week mask, no holidays): a market has one
value per business day, so a later `as_of` by one business day reveals exactly one more value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from stockcast.errors import ConfigError, DataError

DAY = "datetime64[D]"
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Monday to Friday, as `trading_week` gives it: daily data on those days is business days even
# where holidays break pandas' inference.
BUSINESS_WEEK = (True,) * 5 + (False,) * 2
# A weekday is one a daily series trades on when it holds a value on at least this share of its
# occurrences in the weeks the series has values in: holidays (two Mondays in a month) leave a
# trading weekday well above it, while a special session or a stray row on a closed day stays far
# below. Weeks without a value do not count, so a gap of years (2012, then 2020) or data held
# only in some months of each year keeps its week.
MIN_WEEKDAY_SHARE = 0.25
# Nor is a weekday holding a single value one it trades on, however few weeks hold values.
MIN_WEEKDAY_VALUES = 2
# Fewer weeks holding values than this say too little to tell a closed day from a thin one: such
# data trades on Monday to Friday unless a weekend day holds a value.
MIN_WEEKS = 4
# The share of daily data's dates that follow the one before on the next day of its week, from
# which its dates step day by day on that week: a third of the days missing at random, or years
# of weekly closes before the daily ones, still do; every other day, or half the days at random,
# do not (their positions drift off the weekdays); 40% missing at random sits on the line.
NEXT_DAY_SHARE = 0.6


def trading_week(dates: Any) -> tuple[bool, ...]:
    """The weekdays (Monday first) a daily series has values on: those holding a value on at
    least `MIN_WEEKDAY_SHARE` of their occurrences in the weeks it has values in, between its
    first and last date. So an exchange open Sunday to Thursday has that week, and one Saturday
    session in years of business days does not add Saturday. Never empty: where no weekday
    reaches the share, every weekday holding a value counts. Read on the dates as stored (zoned
    times in UTC)."""
    days = np.unique(np.asarray(dates, dtype=DAY).astype(np.int64))
    if not len(days):
        return BUSINESS_WEEK
    held = np.bincount(weekdays(days), minlength=7)
    weeks = np.unique(days - weekdays(days))  # each week's Monday
    if len(weeks) < MIN_WEEKS:
        return (True,) * 7 if held[5:].any() else BUSINESS_WEEK
    span = (weeks[:, None] + np.arange(7)).ravel()
    span = span[(span >= days[0]) & (span <= days[-1])]
    occurs = np.bincount(weekdays(span), minlength=7)
    needed = np.maximum(MIN_WEEKDAY_SHARE * occurs, MIN_WEEKDAY_VALUES)
    week = tuple(bool(h >= n) for h, n in zip(held, needed, strict=True))
    return week if any(week) else tuple(bool(h) for h in held)


def steps_day_by_day(days: np.ndarray, week: tuple[bool, ...]) -> bool:
    """Whether dates step from one day of `week` to its next, most of them (`NEXT_DAY_SHARE`):
    Monday, Wednesday and Friday closes do on their week, Tuesday and Thursday ones whichever
    day they start on; data every few days does on no week. A day written twice is one day."""
    days = np.unique(np.asarray(days, dtype=DAY))
    if len(days) < 2:
        return False
    steps = np.busday_count(days[:-1], days[1:], weekmask=list(week))
    return bool(np.mean(steps == 1) >= NEXT_DAY_SHARE)


def weekdays(days: np.ndarray) -> np.ndarray:
    """Each day's weekday, Monday 0, from days counted since 1970-01-01 (day 0, a Thursday)."""
    return (np.asarray(days, dtype=np.int64) + 3) % 7


def weekday_names(week: tuple[bool, ...]) -> str:
    """The days a week holds, as a pandas week mask and as labels name them: 'Mon Tue Wed'."""
    return " ".join(name for name, open_ in zip(WEEKDAY_NAMES, week, strict=True) if open_)


def today_utc() -> str:
    """Today's date in UTC as YYYY-MM-DD: the default `data.as_of`, the same on every machine."""
    return datetime.now(UTC).date().isoformat()


# The day `${stockcast_today:}` (the default `data.as_of`) means in this process and those it
# starts, where set: a sweep's start day for its jobs, a DDP fit's data day for its other ranks.
# Only the default: a day a config or an override gives still wins.
PINNED_DAY_ENV = "STOCKCAST_PINNED_DAY"


def default_day() -> str:
    """The default `data.as_of`: the day pinned for this process (`PINNED_DAY_ENV`), else
    today (UTC), read when a config resolves it."""
    return os.environ.get(PINNED_DAY_ENV) or today_utc()


def pin_default_day(day: str | None) -> str | None:
    """Make `day` the default `data.as_of` here and in the processes started from here (None:
    the clock's day again); returns the day pinned before, to restore it."""
    before = os.environ.get(PINNED_DAY_ENV)
    if day is None:
        os.environ.pop(PINNED_DAY_ENV, None)
    else:
        os.environ[PINNED_DAY_ENV] = day
    return before


@contextmanager
def default_day_pinned(day: str) -> Iterator[None]:
    """`pin_default_day(day)` for the block, restored after it."""
    before = pin_default_day(day)
    try:
        yield
    finally:
        pin_default_day(before)


def after_today(day: np.datetime64) -> str | None:
    """Today's date (UTC) as text where `day` is after it, else None: no data exists for a day
    that has not come (a market's as_of, a replay's end)."""
    today = np.datetime64(today_utc(), "D")
    return day_text(today) if np.datetime64(day, "D") > today else None


def refuse_after_today(as_of: np.datetime64, read: str) -> None:
    """Refuse a `data.as_of` after today (UTC): what `read` (a market, a file) holds of a day
    that has not come is not there yet, so no run of that day can be repeated."""
    today = after_today(as_of)
    if today is not None:
        raise DataError(
            f"data.as_of={day_text(as_of)} is after today ({today}, UTC), and {read} cannot be "
            "read on a day that has not come; leave data.as_of unset for today, or give a past "
            "day."
        )


def canonical_day(value: object) -> date:
    """A date object, or text written exactly YYYY-MM-DD, as a date; ValueError otherwise.
    (`date.fromisoformat` also takes 20260630 and 2026-W27-1, which then compare wrongly with
    the YYYY-MM-DD dates recorded in tags and meta.json.)"""
    if isinstance(value, date):
        return value
    text = str(value)
    day = date.fromisoformat(text)
    if day.isoformat() != text:
        raise ValueError(text)
    return day


def parse_day(value: object, key: str) -> np.datetime64:
    """A config date (`2024-05-31` or a date object) as a day, or one sentence naming `key`."""
    try:
        return np.datetime64(canonical_day(value), "D")
    except ValueError:
        text = value.isoformat() if isinstance(value, date) else str(value)
        raise ConfigError(f"{key} is {text!r}; it must be a date written YYYY-MM-DD.") from None


def business_days(start: np.datetime64, end: np.datetime64) -> np.ndarray:
    """Every business day from `start` to `end`, both included (empty when `end` is earlier)."""
    first = np.busday_offset(start, 0, roll="forward")
    count = max(int(np.busday_count(first, end + np.timedelta64(1, "D"))), 0)
    return np.busday_offset(first, np.arange(count), roll="forward").astype(DAY)


def date_bound(dates: np.ndarray | None, pick: Any = np.max) -> str | None:
    """`pick` (max or min) of some timestamps as ISO text to the second, None when there are
    none: the fitted-data end and scored-window ranges reports and model metadata record."""
    if dates is None or len(dates) == 0:
        return None
    return str(np.datetime_as_string(pick(dates), unit="s"))


def day_text(day: np.datetime64) -> str:
    return str(np.datetime64(day, "D"))


def known_through(data_cfg: Mapping[str, Any], as_of: np.datetime64) -> np.datetime64:
    """The last date whose rows a run as of `as_of` sees: `data.release_lag_days` before it."""
    return as_of - np.timedelta64(int(data_cfg.get("release_lag_days") or 0), "D")


# The first whole day nanosecond dates hold.
EARLIEST_DAY = np.datetime64("1678-01-01")


def after_day(day: np.datetime64) -> np.datetime64:
    """The first nanosecond after `day`: rows dated before it are dated on or before the day.
    Dates are nanoseconds, which reach back to 1677 only: a day before that keeps nothing (cast
    to nanoseconds it would wrap round to a late date and keep everything)."""
    day_after = day.astype("datetime64[D]") + np.timedelta64(1, "D")
    return max(day_after, EARLIEST_DAY).astype("datetime64[ns]")


def later_than(stamp: str | None, other: str) -> bool:
    """Whether date or time `stamp` is after `other` (None: nothing is); a date written without
    a time is that whole day, as the monitor's maturity reads a forecast's origin."""
    if stamp is None:
        return False
    theirs, ours = np.datetime64(stamp), np.datetime64(other)
    if "D" in (np.datetime_data(theirs.dtype)[0], np.datetime_data(ours.dtype)[0]):
        return bool(theirs.astype(DAY) > ours.astype(DAY))
    return bool(theirs > ours)
