"""The business-day calendar markets live on, and reading the dates a user types.

Business days are Monday to Friday (numpy's default week mask, no holidays): a market has one
value per business day, so a later `as_of` by one business day reveals exactly one more value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from stockcast.errors import ConfigError

DAY = "datetime64[D]"
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Monday to Friday, as `trading_week` gives it: daily data on those days is business days even
# where holidays break pandas' inference.
BUSINESS_WEEK = (True,) * 5 + (False,) * 2
# A weekday is one a daily series trades on when it holds a value on at least this share of its
# occurrences in the span: holidays (two Mondays in a month) or gaps leave a trading weekday
# well above it, while a special session or a stray row on a closed day stays far below.
MIN_WEEKDAY_SHARE = 0.25
# Spans shorter than this many weeks say too little to tell a closed day from a thin one: such
# data trades on Monday to Friday unless a weekend day holds a value.
MIN_WEEKS = 4


def trading_week(dates: Any) -> tuple[bool, ...]:
    """The weekdays (Monday first) a daily series has values on: those holding a value on at
    least `MIN_WEEKDAY_SHARE` of their occurrences between its first and last date. So an
    exchange open Sunday to Thursday has that week, and one Saturday session in years of
    business days does not add Saturday. Read on the dates as stored (zoned times in UTC)."""
    days = np.unique(np.asarray(dates, dtype=DAY).astype(np.int64))
    # 1970-01-01, day 0, was a Thursday (weekday 3, Monday being 0).
    held = np.bincount((days + 3) % 7, minlength=7)
    span = np.arange(days[0], days[-1] + 1) if len(days) else days
    occurs = np.bincount((span + 3) % 7, minlength=7)
    if len(span) < MIN_WEEKS * 7:
        return (True,) * 7 if held[5:].any() else BUSINESS_WEEK
    return tuple(bool(h >= MIN_WEEKDAY_SHARE * o) for h, o in zip(held, occurs, strict=True))


# Data whose median gap is shorter than this many days is intraday (`intraday_rhythm`).
INTRADAY_BELOW_DAYS = 0.9
# Intraday data is regular when at least this share of its gaps is the median gap (a missing
# hour or the night between sessions aside); irregular ticks repeat with no count of values.
REGULAR_GAP_SHARE = 0.5
ONE_DAY = np.timedelta64(86_400_000_000_000, "ns")


@dataclass(frozen=True)
class IntradayRhythm:
    """How regular intraday data repeats each day: around the clock every `per_day` values of
    `gap`, or in sessions of `per_day` values at `offsets` from each session's start (half-hours
    from 14:30 to 20:30 UTC) on the days of the week `week` it trades on."""

    gap: np.timedelta64
    per_day: int
    offsets: np.ndarray | None = None  # timedelta64[ns] from a session's start; None: all day
    start: np.timedelta64 | None = None  # a session's start, from its UTC day's midnight
    week: tuple[bool, ...] = (True,) * 7


def intraday_rhythm(dates: Any) -> IntradayRhythm | None:
    """The daily rhythm of regular intraday data; None for data spaced a day or more apart,
    irregular ticks (fewer than `REGULAR_GAP_SHARE` of the gaps are the median one) or too
    few sessions to tell.

    Around the clock when some UTC day, or some unbroken run, holds a whole day of values (a
    missing hour elsewhere does not make hourly data a session); otherwise the runs between
    longer gaps are sessions, and a session is the length the whole ones (all but the first and
    the last, which the data may cut) most often have, at the offsets of the latest such one."""
    times = np.asarray(dates, dtype="datetime64[ns]")
    if len(times) < 3:
        return None
    gaps = np.diff(times)
    gap = np.median(gaps)
    if not (np.timedelta64(0) < gap < INTRADAY_BELOW_DAYS * ONE_DAY):
        return None
    if np.mean(gaps == gap) < REGULAR_GAP_SHARE:
        return None
    whole_day = int(np.rint(ONE_DAY / gap))
    runs = np.split(times, np.flatnonzero(gaps > gap) + 1)
    per_utc_day = np.unique(times.astype(DAY), return_counts=True)[1]
    if max(per_utc_day.max(), max(len(run) for run in runs)) >= whole_day:
        return IntradayRhythm(gap, whole_day)
    lengths = np.array([len(run) for run in runs[1:-1]])
    if len(lengths) < 2:
        return None
    counts = np.bincount(lengths)
    per_day = int(np.argmax(counts))
    if per_day < 2:
        return None
    latest = next(run for run in reversed(runs) if len(run) == per_day)
    starts = np.array([run[0] for run in runs])
    return IntradayRhythm(
        gap,
        per_day,
        offsets=latest - latest[0],
        start=latest[0] - latest[0].astype(DAY),
        week=trading_week(starts),
    )


def today_utc() -> str:
    """Today's date in UTC as YYYY-MM-DD: the default `data.as_of`, the same on every machine."""
    return datetime.now(UTC).date().isoformat()


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
