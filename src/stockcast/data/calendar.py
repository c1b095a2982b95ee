"""The business-day calendar markets live on, and reading the dates a user types.

Business days are Monday to Friday (numpy's default week mask, no holidays): a market has one
value per business day, so a later `as_of` by one business day reveals exactly one more value.
"""

from __future__ import annotations

from collections import Counter
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
# bar or the night between sessions aside); irregular ticks repeat with no count of values.
REGULAR_GAP_SHARE = 0.5
ONE_DAY = np.timedelta64(86_400_000_000_000, "ns")
# A gap at least this long (and longer than a bar) ends a session: a night or a weekend does,
# a missing bar or a lunch break (Tokyo's and Hong Kong's are an hour to an hour and a half)
# does not.
SESSION_BREAK = np.timedelta64(3 * 3_600_000_000_000, "ns")

# The latest whole weeks whose times intraday data held around the clock repeats on
# (`weekly_slots`, the times at least half of them hold): enough that a holiday or bars missing
# at random (5%: one time in ten thousand) do not drop a time.
SLOT_WEEKS = 6


@dataclass(frozen=True)
class IntradayRhythm:
    """How regular intraday data repeats each day: around the clock every `per_day` values of
    `gap`, or in sessions of `per_day` values at `offsets` from each session's start (half-hours
    from 14:30 to 20:30 UTC) on the days of the week `week` sessions start on."""

    gap: np.timedelta64
    per_day: int
    offsets: np.ndarray | None = None  # timedelta64[ns] from a session's start; None: all day
    start: np.timedelta64 | None = None  # a session's start, from its UTC day's midnight
    week: tuple[bool, ...] = (True,) * 7


def intraday_rhythm(dates: Any) -> IntradayRhythm | None:
    """The daily rhythm of regular intraday data; None for data spaced a day or more apart,
    irregular ticks (fewer than `REGULAR_GAP_SHARE` of the gaps are the median one) or fewer
    than two whole sessions.

    The data runs in sessions between gaps of `SESSION_BREAK` or more (`intraday_sessions`);
    it runs around the clock where one of them spans a day. A session is then the span the
    whole ones (all but the first and the last, which the data may cut, unless too few are
    left) most often have, and its values are the offsets from their start any of those holds,
    so a bar missing here and there is not missed in the rhythm, and a lunch break is kept."""
    times = np.asarray(dates, dtype="datetime64[ns]")
    if len(times) < 3:
        return None
    gaps = np.diff(times)
    # The lower median, a gap the data has (the median of an even count may be none of them).
    gap = np.sort(gaps)[(len(gaps) - 1) // 2]
    if not (np.timedelta64(0) < gap < INTRADAY_BELOW_DAYS * ONE_DAY):
        return None
    if np.mean(gaps == gap) < REGULAR_GAP_SHARE:
        return None
    sessions = intraday_sessions(times, gap)
    if max(session[-1] - session[0] for session in sessions) + gap >= ONE_DAY:
        return IntradayRhythm(gap, _values_a_day(times, gap))
    spans = [session[-1] - session[0] for session in sessions]
    whole = (
        sessions[1:-1]
        if len(sessions) > 3
        else [s for s, span in zip(sessions, spans, strict=True) if span == max(spans)]
    )
    if len(whole) < 2:
        return None
    usual = Counter(session[-1] - session[0] for session in whole).most_common(1)[0][0]
    whole = [session for session in whole if session[-1] - session[0] == usual]
    offsets = np.unique(np.concatenate([session - session[0] for session in whole]))
    if len(whole) < 2 or len(offsets) < 2:
        return None
    latest = whole[-1][0]
    return IntradayRhythm(
        gap,
        len(offsets),
        offsets=offsets,
        start=latest - latest.astype(DAY),
        week=trading_week(np.array([session[0] for session in sessions])),
    )


def weekly_slots(times: np.ndarray) -> np.ndarray | None:
    """The offsets from Monday 00:00 UTC that at least half of the data's latest `SLOT_WEEKS`
    whole weeks hold (the first and the last week, which the data may cut, aside), so a holiday
    or a missing bar does not drop a time; None under two whole weeks or two times."""
    mondays = _mondays(times)
    whole = np.unique(mondays)[1:-1][-SLOT_WEEKS:]
    if len(whole) < 2:
        return None
    held = np.isin(mondays, whole)
    slots, weeks = np.unique(times[held] - mondays[held], return_counts=True)
    kept = slots[2 * weeks >= len(whole)]
    return kept if len(kept) >= 2 else None


def _mondays(times: np.ndarray) -> np.ndarray:
    """Each time's week's Monday at 00:00 (1970-01-01, day 0, was a Thursday)."""
    days = times.astype(DAY).astype(np.int64)
    return (days - (days + 3) % 7).astype(DAY).astype("datetime64[ns]")


def monday_of(time: np.datetime64) -> np.datetime64:
    """The Monday 00:00 of `time`'s week."""
    return _mondays(np.array([time], dtype="datetime64[ns]"))[0]


def _values_a_day(times: np.ndarray, gap: np.timedelta64) -> int:
    """How many values a day of data held around the clock repeats with: the number of times
    its weeks hold (`weekly_slots`) on most of the weekdays that hold any, so a daily halt or a
    maintenance hour counts (futures' 23 hours a day); a day over the gap under two whole
    weeks."""
    slots = weekly_slots(times)
    if slots is None:
        return int(np.rint(ONE_DAY / gap))
    per_weekday = np.bincount((slots // ONE_DAY).astype(np.int64), minlength=7)
    held = per_weekday[per_weekday > 0]
    return int(np.bincount(held).argmax())


def intraday_sessions(times: np.ndarray, gap: np.timedelta64) -> list[np.ndarray]:
    """The runs of `times` between gaps of `SESSION_BREAK` or more that are also longer than
    a bar of `gap`."""
    breaks = np.flatnonzero(np.diff(times) >= max(SESSION_BREAK, gap + np.timedelta64(1, "ns")))
    return np.split(times, breaks + 1)


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
