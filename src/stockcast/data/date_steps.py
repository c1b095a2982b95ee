"""Dates that skip a step of their own calendar: a month missing from monthly data.

A model reads values by position, so one missing month makes every later window read each
month's value as the one before it: a seasonal model then forecasts January with February's
level, and nothing in the values shows it. Weekly, two-weekly, four-weekly, monthly, bimonthly,
quarterly, half-yearly and yearly data have a step that no holiday excuses; daily and intraday
data skip holidays and closed days by design, so they are not refused here (`daily_holes` warns
of one longer than any market closure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockcast.data.rhythm import (
    DAYS_A_WEEK,
    FOUR_WEEKS,
    MONTHLY_SPACING,
    TWO_WEEKS,
    WEEKLY_SPACING,
    commonest_step,
    days_of,
    four_weekly,
    other_rhythm,
    two_weekly,
)
from stockcast.data.series import UNNAMED, Series
from stockcast.errors import DataError

# The least days between two of weekly data's dates that count as a skipped week (a holiday
# moves a weekly date by a day or two, not by four).
SKIPPED_WEEK_DAYS = 11
# The share of the dates that must lie one step apart for their gaps to be judged (fewer, and
# they are irregular data, not a calendar with gaps).
REGULAR_SHARE = 0.5
STEP_NAMES = {1: "month", 2: "two-month period", 3: "quarter", 6: "half-year", 12: "year"}
# The fewest of an input's latest dates its rhythm is judged on (half a year of weeks).
RHYTHM_DATES = 26


@dataclass(frozen=True)
class DateGap:
    """The first skipped step: between dates `before` and `after`, `missing` steps of `step`
    (a name: month, quarter, year, week) are missing; `gaps` counts every skip of the dates."""

    before: str
    after: str
    missing: int
    step: str
    gaps: int

    def sentence(self) -> str:
        """What is wrong, with the dates as its subject."""
        more = f"; {self.gaps - 1} more gap(s) after it" if self.gaps > 1 else ""
        return (
            f"skip from {self.before} to {self.after} ({self.missing} {self.step}"
            f"{'s' * (self.missing > 1)} missing{more}), though they are one {self.step} apart "
            "elsewhere, and a model reads values by position: every value after the gap would "
            f"be read as the {self.step} before it"
        )


def _month_positions(days: np.ndarray) -> np.ndarray:
    """Each day as months since 1970, with the share of its month gone by: 31 August is 0.97
    into August and 2 October (a month end moved to the next business day) 0.03 into October,
    about one month later, where counting calendar months alone makes it two."""
    import pandas as pd

    index = pd.DatetimeIndex(days)
    months = (index.year - 1970) * 12 + index.month - 1
    return np.asarray(months + (index.day - 1) / index.days_in_month, dtype=np.float64)


@dataclass(frozen=True)
class CalendarSteps:
    """Dates' steps of their calendar of weeks or months (named `step`):
    `missing[i]` steps skipped between days `i` and `i + 1`, and `within[i]` where those two
    lie less than half a step apart by every measure, two values of one step."""

    days: np.ndarray
    missing: np.ndarray
    within: np.ndarray
    step: str


def calendar_steps(dates: np.ndarray | None) -> CalendarSteps | None:
    """The steps of dates a whole number of weeks (one, two or four) or of months apart (the
    step is read off all the dates); None for data without such a step (undated, daily,
    intraday, irregular, twice a month)."""
    if dates is None or len(dates) < 3:
        return None
    days = days_of(dates)
    if days is None:
        return None  # intraday data, whose sessions skip nights by design
    spacing = np.diff(days).astype(np.int64)
    typical = commonest_step(spacing)
    if WEEKLY_SPACING[0] <= typical <= WEEKLY_SPACING[1]:
        steps = np.rint(spacing / DAYS_A_WEEK).astype(np.int64)
        within = steps == 0
        steps[spacing < SKIPPED_WEEK_DAYS] = 1
        regular = np.abs(spacing - DAYS_A_WEEK) <= 1
        step_name = "week"
    elif four_weekly(spacing):
        steps, within, regular = _periods_of_days(spacing, FOUR_WEEKS)
        step_name = "four-week period"
    elif two_weekly(spacing):
        steps, within, regular = _periods_of_days(spacing, TWO_WEEKS)
        step_name = "two-week period"
    elif typical >= MONTHLY_SPACING:
        # Months between dates by where in its month each falls (a month end moved into the
        # next month, or a 4-4-5 retail month of five weeks, is about one month on) and by
        # calendar months (10 January to 29 February is one month on, not one and a half): a
        # step is skipped only where both say so, and two dates are one step's only where
        # both say that (2 October, September's month end moved, and 31 October are not).
        moves = np.diff(_month_positions(days))
        calendar = np.diff(days.astype("datetime64[M]").astype(np.int64))
        step = commonest_step(np.rint(moves).astype(np.int64))
        if step < 1:
            return None
        by_position, by_calendar = np.rint(moves / step), np.rint(calendar / step)
        steps = np.minimum(by_position, by_calendar).astype(np.int64)
        within = np.maximum(by_position, by_calendar) == 0
        regular = np.rint(moves) == step
        step_name = STEP_NAMES.get(step, f"{step}-month step")
    else:
        return None
    if np.mean(regular) < REGULAR_SHARE:
        return None  # irregular dates: most of them are not one step apart
    return CalendarSteps(days, np.maximum(steps - 1, 0), within, step_name)


def _periods_of_days(spacing: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Periods of `days` days between dates (a date a holiday moved by a day or two is still
    one period on), whether two dates lie within one, and whether they are one apart give or
    take a day."""
    steps = np.rint(spacing / days).astype(np.int64)
    return steps, steps == 0, np.abs(spacing - days) <= 1


def first_date_gap(dates: np.ndarray | None, since: int = 0) -> DateGap | None:
    """The first place at or after date `since` where dates of weeks or months skip a step
    (the step is read off all the dates); None for data without such a step (undated, daily,
    intraday, irregular) or without a gap there."""
    steps = calendar_steps(dates)
    if steps is None:
        return None
    missing = steps.missing.copy()
    missing[:since] = 0
    skipped = np.flatnonzero(missing > 0)
    if not len(skipped):
        return None
    first = int(skipped[0])
    return DateGap(
        before=str(steps.days[first]),
        after=str(steps.days[first + 1]),
        missing=int(missing[first]),
        step=steps.step,
        gaps=len(skipped),
    )


def repeated_step(dates: np.ndarray | None, since: int = 0) -> tuple[str, str] | None:
    """The first two dates at or after date `since` of data of weeks or months that lie within
    one step of its calendar (a month written twice, on the 20th and on its last day), as the
    sentence's end, and the step's name; None where there are none. As a skipped step does,
    the second shifts every later value by a step."""
    steps = calendar_steps(dates)
    if steps is None:
        return None
    within = steps.within.copy()
    within[:since] = False
    found = np.flatnonzero(within)
    if not len(found):
        return None
    first = int(found[0])
    more = f"; {len(found) - 1} more such pair(s) after them" if len(found) > 1 else ""
    return (
        f"hold {steps.days[first]} and {steps.days[first + 1]}, less than half a {steps.step} "
        f"apart{more}, though they are one {steps.step} apart elsewhere, and a model reads "
        f"values by position: the second would be read as the next {steps.step}'s"
    ), steps.step


def repeated_day(dates: np.ndarray | None, since: int = 0) -> str | None:
    """The first day at or after date `since` holding a second value, in data of one value a
    day (closes stamped with their time; intraday data holds several by design), as the
    sentence's end; None where there is none."""
    if dates is None or len(dates) < 2:
        return None
    days = days_of(dates)
    if days is None:
        return None
    again = np.flatnonzero(days[1:] == days[:-1]) + 1
    again = again[again - 1 >= since]  # both values among those judged
    if not len(again):
        return None
    second = int(again[0])
    times = [str(np.datetime64(dates[i], "m")).replace("T", " ") for i in (second - 1, second)]
    return (
        f"hold two values on {days[second]} ({times[0]} and {times[1]}), though they hold one a "
        "day elsewhere, and a model reads values by position: the second would be read as the "
        "next step's"
    )


def whose_dates(item: Series) -> str:
    """A sentence's subject: a table without ids has one series, which it does not name."""
    return "the dates" if item.series_id == UNNAMED else f"series {item.series_id!r}: its dates"


def refuse_date_gaps(series: Sequence[Series]) -> None:
    """Training data whose dates skip a step of their calendar, hold two values within one
    step of it, or two values on a day of data of one a day, refused before any work."""
    for item in series:
        twice = repeated_day(item.dates)
        if twice is not None:
            raise DataError(f"{whose_dates(item)} {twice}; keep one row per day (its close, say).")
        again = repeated_step(item.dates)
        if again is not None:
            raise DataError(f"{whose_dates(item)} {again[0]}; keep one row per {again[1]}.")
        gap = first_date_gap(item.dates)
        if gap is not None:
            raise DataError(
                f"{whose_dates(item)} {gap.sentence()}; add the missing "
                f"{gap.step}s (their values, or the last value carried forward), or keep only "
                "the rows after the last gap."
            )


def window_dates_refusal(
    dates: np.ndarray | None, metadata: Mapping[str, Any], read: int, whose: str
) -> str | None:
    """Why dates cannot feed a model that reads their last `read` values (`whose`: the input
    or a series, as the sentence names it): another frequency than its data's, or a step of
    their calendar skipped among the values it reads. None where they can."""
    if dates is None:
        return None
    # Judged on the latest dates, those of the values the model reads (at least
    # `RHYTHM_DATES`: a few steps' commonest spacing is one holiday's): a monthly file whose
    # last year is weekly feeds it weeks, and quarters long before its months feed it nothing.
    other = other_rhythm(metadata, dates[-max(read, RHYTHM_DATES) :])
    if other is not None:
        return f"the dates of {whose} {other}."
    twice = repeated_day(dates, since=max(len(dates) - read, 0))
    if twice is not None:
        return (
            f"the dates of the last {read} values of {whose}, which the model reads, {twice}; "
            "keep one row per day."
        )
    # Judged on the latest dates, as the rhythm is: months read after years of quarters are
    # not two values of one quarter.
    latest = dates[-max(read, RHYTHM_DATES) :]
    again = repeated_step(latest, since=max(len(latest) - read, 0))
    if again is not None:
        return (
            f"the dates of the last {read} values of {whose}, which the model reads, "
            f"{again[0]}; keep one row per {again[1]}."
        )
    gap = first_date_gap(dates, since=max(len(dates) - read, 0))
    if gap is None:
        return None
    return (
        f"the dates of the last {read} values of {whose}, which the model reads, "
        f"{gap.sentence()}; add the missing {gap.step}s to them."
    )
