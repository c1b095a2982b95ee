"""How intraday data repeats each day: around the clock, or in sessions on trading days.

Read on the times as stored (zoned times in UTC). A series' season (`data/seasonality.py`) is
the number of values a day of this rhythm holds, and its forecast dates
(`prediction/intraday_dates.py`) continue it, so they fall on times the series has, where the
monitor's ledger can mature them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockcast.data.calendar import DAY, trading_week, weekdays

# Data whose median gap is shorter than this many days is intraday.
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
    """How regular intraday data of bars `gap` apart repeats: in sessions at `offsets` from
    each session's start (half-hours from 14:30 to 20:30 UTC), started `start` after midnight
    UTC on the days of the week `week`; or around the clock, on the times of the week `weekly`
    holds (None under two whole weeks: every bar)."""

    gap: np.timedelta64
    offsets: np.ndarray | None = None  # timedelta64[ns] from a session's start; None: all day
    start: np.timedelta64 | None = None  # a session's start, from its UTC day's midnight
    week: tuple[bool, ...] = (True,) * 7
    weekly: np.ndarray | None = None  # around the clock: offsets from Monday 00:00 UTC

    @property
    def per_day(self) -> int:
        """The values a day repeats with: a session's; around the clock, the times most
        weekdays that hold any hold (futures' 23 hours around their daily halt), or a day
        over the bar."""
        if self.offsets is not None:
            return len(self.offsets)
        if self.weekly is None:
            return int(np.rint(ONE_DAY / self.gap))
        per_weekday = np.bincount((self.weekly // ONE_DAY).astype(np.int64), minlength=7)
        return int(np.bincount(per_weekday[per_weekday > 0]).argmax())


def intraday_rhythm(dates: Any) -> IntradayRhythm | None:
    """The daily rhythm of regular intraday data; None for data spaced a day or more apart,
    irregular ticks (fewer than `REGULAR_GAP_SHARE` of the gaps are the median one) or fewer
    than two whole sessions.

    The data runs in sessions between gaps of `SESSION_BREAK` or more (`intraday_sessions`);
    it runs around the clock where one of them spans a day. A session is then the span the
    whole ones (`whole_sessions`) most often have, and its values are the offsets from their
    start any of those holds, so a bar missing here and there is not missed in the rhythm, and
    a lunch break is kept; its start is the latest whole session's."""
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
    spans = [session[-1] - session[0] for session in sessions]
    if max(spans) + gap >= ONE_DAY:
        return IntradayRhythm(gap, weekly=weekly_slots(times))
    whole = whole_sessions(sessions, spans)
    if len(whole) < 2:
        return None
    offsets = np.unique(np.concatenate([session - session[0] for session in whole]))
    if len(offsets) < 2:
        return None
    latest = whole[-1][0]
    start = latest - latest.astype(DAY)
    starts = np.array([session[0] for session in sessions])
    return IntradayRhythm(
        gap,
        offsets=offsets,
        start=start,
        week=trading_week(starts_at(starts, start)),
    )


def starts_at(starts: np.ndarray, start: np.timedelta64) -> np.ndarray:
    """Sessions' `starts` each moved onto the time of day `start` (after midnight UTC) by the
    nearest shift, under half a day. A daylight-saving change can move a session across UTC
    midnight (Sydney's 10:00 open is 23:00 UTC on Sundays in its summer, 00:00 on Mondays in
    its winter): read on the days they started on, its week held both Sunday and Friday, and
    the forecast opened a session on a Sunday. Moved, they start on the days the next sessions
    do."""
    since_midnight = starts - starts.astype(DAY)
    shift = (since_midnight - start + ONE_DAY // 2) % ONE_DAY - ONE_DAY // 2
    return starts - shift


def whole_sessions(sessions: list[np.ndarray], spans: list[Any]) -> list[np.ndarray]:
    """The sessions of the span the whole ones most often have: judged on all but the first
    and the last, which the data may cut (unless too few are left), then the last as well where
    it has that span. Its start follows a break, so only its end can be cut, which would shorten
    it; and it is the session that shows a daylight-saving change first, which the forecast of
    data ending on that day's close must follow."""
    pairs = list(zip(sessions, spans, strict=True))
    if len(pairs) <= 3:
        return [session for session, span in pairs if span == max(spans)]
    usual = Counter(span for _, span in pairs[1:-1]).most_common(1)[0][0]
    return [session for session, span in pairs[1:] if span == usual]


def intraday_sessions(times: np.ndarray, gap: np.timedelta64) -> list[np.ndarray]:
    """The runs of `times` between gaps of `SESSION_BREAK` or more that are also longer than
    a bar of `gap`."""
    breaks = np.flatnonzero(np.diff(times) >= max(SESSION_BREAK, gap + np.timedelta64(1, "ns")))
    return np.split(times, breaks + 1)


def weekly_slots(times: np.ndarray) -> np.ndarray | None:
    """The offsets from Monday 00:00 UTC that at least half of the data's latest `SLOT_WEEKS`
    whole weeks hold (the first and the last week, which the data may cut, aside), so a holiday
    or a missing bar does not drop a time; None under two whole weeks or two times."""
    mondays = mondays_of(times)
    whole = np.unique(mondays)[1:-1][-SLOT_WEEKS:]
    if len(whole) < 2:
        return None
    held = np.isin(mondays, whole)
    slots, weeks = np.unique(times[held] - mondays[held], return_counts=True)
    kept = slots[2 * weeks >= len(whole)]
    return kept if len(kept) >= 2 else None


def mondays_of(times: np.ndarray) -> np.ndarray:
    """Each time's week's Monday at 00:00."""
    days = np.asarray(times, dtype="datetime64[ns]").astype(DAY).astype(np.int64)
    return (days - weekdays(days)).astype(DAY).astype("datetime64[ns]")
