"""Daily data that skips more trading days than any market closure: not refused, as a skipped
month is (a halted stock's series has such a hole), but warned of, since a model reads values by
position and every window across the hole reads the move over it as one day's. Data of every
day of the week has no closure to excuse even one missing day: each shifts the weekday every
later value sits at in the weekly season, so those are warned of too."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from stockcast.data.calendar import trading_week
from stockcast.data.date_steps import whose_dates
from stockcast.data.rhythm import DAILY, date_rhythm
from stockcast.data.series import Series

log = logging.getLogger(__name__)

# The most trading days in a row an exchange has stayed shut in decades (New York after 11
# September 2001: four; a Lunar New Year week: five), with room to spare: a daily series that
# skips more has lost data, which a model reading values by position takes for one day's move.
LONGEST_CLOSURE_TRADING_DAYS = 10
# A trading week of every day (a crypto market, daily sales): no day of it is a closure.
EVERY_DAY = (True,) * 7
# A hole: the dates before and after it, and the trading days missing between them.
Hole = tuple[str, str, int]


def long_daily_holes(dates: np.ndarray | None) -> list[Hole]:
    """Where daily dates skip more than `LONGEST_CLOSURE_TRADING_DAYS` days of their own trading
    week: each hole's dates before and after it and its trading days missing; empty for other
    data (undated, intraday, weekly or coarser, irregular)."""
    return [hole for hole in daily_holes(dates) if hole[2] > LONGEST_CLOSURE_TRADING_DAYS]


def short_every_day_holes(dates: np.ndarray | None) -> list[Hole]:
    """Where daily dates of every day of the week skip days, no more than
    `LONGEST_CLOSURE_TRADING_DAYS` (longer ones are `long_daily_holes`): as `long_daily_holes`
    gives them; empty for data of a shorter trading week, which skips its holidays by design."""
    holes = daily_holes(dates)
    if not holes or trading_week(dates) != EVERY_DAY:
        return []
    return [hole for hole in holes if hole[2] <= LONGEST_CLOSURE_TRADING_DAYS]


def daily_holes(dates: np.ndarray | None) -> list[Hole]:
    """Where daily dates skip days of their own trading week: each hole's dates before and after
    it and its trading days missing; empty for other data."""
    if dates is None or date_rhythm(dates) != DAILY:
        return []
    days = np.unique(np.asarray(dates, dtype="datetime64[D]"))
    missing = np.busday_count(days[:-1], days[1:], weekmask=list(trading_week(days))) - 1
    return [(str(days[i]), str(days[i + 1]), int(missing[i])) for i in np.flatnonzero(missing)]


def warn_of_long_daily_holes(series: Sequence[Series]) -> None:
    """Say, once for the whole data, where daily training data skips more trading days than any
    market closure: not refused, as a skipped month is (a halted stock's series has such a
    hole), but every window across it reads the move over the hole as one day's. A panel's
    first series with a hole is named, and the others counted."""
    first = _first_holed(series, long_daily_holes)
    if first is None:
        return
    item, holes, other_series = first
    before, after, missing = holes[0]
    more = f"; {len(holes) - 1} more such hole(s) after it" if len(holes) > 1 else ""
    others = f" ({other_series} more series have such holes)" if other_series else ""
    log.warning(
        "%s skip from %s to %s (%d trading days missing%s), longer than any market closure%s: "
        "every window across the hole reads the move over it as one day's; add the missing "
        "days (their values, or the last value carried forward), or keep only the rows after "
        "the hole",
        whose_dates(item),
        before,
        after,
        missing,
        more,
        others,
    )


def warn_of_every_day_holes(series: Sequence[Series]) -> None:
    """Say, once for the whole data, where data of every day of the week skips a few days
    (`short_every_day_holes`): no market closes on such a calendar, and each missing day moves
    every later value to the next weekday's position in the weekly season. A panel's first
    series with such holes is named, and the others counted."""
    first = _first_holed(series, short_every_day_holes)
    if first is None:
        return
    item, holes, other_series = first
    before, after, _ = holes[0]
    others = f" ({other_series} more series skip days too)" if other_series else ""
    log.warning(
        "%s hold every day of the week but skip %d day(s) in %d gap(s), the first from %s to "
        "%s%s: each gap shifts the weekday every later value is read at; add the missing days "
        "(their values, or the last value carried forward)",
        whose_dates(item),
        sum(missing for _, _, missing in holes),
        len(holes),
        before,
        after,
        others,
    )


def _first_holed(
    series: Sequence[Series], holes_of: Callable[[np.ndarray | None], list[Hole]]
) -> tuple[Series, list[Hole], int] | None:
    """The first series `holes_of` finds holes in, its holes, and how many other series have
    some: a warning names the first and counts the others. None where none has any."""
    holed = [(item, holes) for item in series if (holes := holes_of(item.dates))]
    if not holed:
        return None
    item, holes = holed[0]
    return item, holes, len(holed) - 1
