"""Dates that skip a step of their own calendar: a month missing from monthly data.

A model reads values by position, so one missing month makes every later window read each
month's value as the one before it: a seasonal model then forecasts January with February's
level, and nothing in the values shows it. Weekly, monthly, quarterly and yearly data have a
step that no holiday excuses; daily and intraday data skip holidays and closed days by design,
so they are not refused here (`daily_holes` warns of one longer than any market closure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockcast.data.calendar import steps_day_by_day, trading_week
from stockcast.data.series import UNNAMED, Series
from stockcast.errors import DataError

# Commonest days between dates that make data weekly, and the least days between two of its dates
# that count as a skipped week (a holiday moves a weekly date by a day or two, not by four).
WEEKLY_SPACING = (6.5, 7.5)
SKIPPED_WEEK_DAYS = 11
DAYS_A_WEEK = 7
# The share of the dates that must lie one step apart for their gaps to be judged (fewer, and
# they are irregular data, not a calendar with gaps).
REGULAR_SHARE = 0.5
# Values per day, on average, from which data is intraday.
INTRADAY_VALUES_A_DAY = 1.5
# Commonest days between dates from which data steps in calendar months (monthly or coarser).
MONTHLY_SPACING = 27.5
# Data of four-week periods (13 a year, a retail or payroll calendar) steps 28 days nearly
# always, where monthly data's commonest step is 30 or 31 days and a 4-4-5 calendar's is 28
# only two times in three: this share of its steps lie within a day of 28.
FOUR_WEEKS = 28
FOUR_WEEKLY_SHARE = 0.9
STEP_NAMES = {1: "month", 3: "quarter", 6: "half-year", 12: "year"}
# Dates' rhythm by their commonest spacing in days (closer than a day, or with times of day:
# intraday); others are irregular and not judged.
DAILY, YEARLY, FOUR_WEEKLY = "daily", "yearly", "four-weekly"
RHYTHMS = (
    (DAILY, 0.9, 4.5),
    ("weekly", *WEEKLY_SPACING),
    ("monthly", MONTHLY_SPACING, 31.5),
    ("quarterly", 88.0, 93.0),
    (YEARLY, 360.0, 370.0),
)
INTRADAY = "intraday"
# The fewest of an input's latest dates its rhythm is judged on (half a year of weeks).
RHYTHM_DATES = 26
# The season each rhythm repeats with: a year of weeks, months and quarters (daily data's is the
# days of the week it trades on, intraday data's a day's sessions; yearly data has none).
WEEKS = 52
SEASON_OF_RHYTHM = {"weekly": WEEKS, FOUR_WEEKLY: 13, "monthly": 12, "quarterly": 4}
# The rhythms of data whose dates give each season beside a day's sessions (a season of 1,
# yearly or irregular, says nothing sure and is not judged).
RHYTHMS_OF_SEASON = {season: {rhythm} for rhythm, season in SEASON_OF_RHYTHM.items()}
DAILY_SEASONS = range(2, 8)  # the trading days of a week


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


def _days(dates: np.ndarray) -> np.ndarray | None:
    """The dates' days where most days hold one value (a weekly close at 16:00 is weekly data,
    and a day written twice does not make it intraday); None for intraday data, several values
    on most days."""
    days = np.asarray(dates, dtype="datetime64[ns]").astype("datetime64[D]")
    return None if len(days) >= INTRADAY_VALUES_A_DAY * len(np.unique(days)) else days


def _month_positions(days: np.ndarray) -> np.ndarray:
    """Each day as months since 1970, with the share of its month gone by: 31 August is 0.97
    into August and 2 October (a month end moved to the next business day) 0.03 into October,
    about one month later, where counting calendar months alone makes it two."""
    import pandas as pd

    index = pd.DatetimeIndex(days)
    months = (index.year - 1970) * 12 + index.month - 1
    return np.asarray(months + (index.day - 1) / index.days_in_month, dtype=np.float64)


def _typical(steps: np.ndarray) -> int:
    """The commonest step, the shorter of equally common ones: three dates a month, then two
    months apart, step by one month (their median would be one and a half)."""
    values, counts = np.unique(steps, return_counts=True)
    return int(values[counts == counts.max()][0])


def _four_weekly(spacing: np.ndarray) -> bool:
    """Whether the days between dates are those of four-week periods (`FOUR_WEEKLY_SHARE`)."""
    return bool(np.mean(np.abs(spacing - FOUR_WEEKS) <= 1) >= FOUR_WEEKLY_SHARE)


def first_date_gap(dates: np.ndarray | None, since: int = 0) -> DateGap | None:
    """The first place at or after date `since` where weekly, monthly, quarterly or yearly
    dates skip a step (the step is read off all the dates); None for data without such a step
    (undated, daily, intraday, irregular) or without a gap there."""
    if dates is None or len(dates) < 3:
        return None
    days = _days(dates)
    if days is None:
        return None  # intraday data, whose sessions skip nights by design
    spacing = np.diff(days).astype(np.int64)
    typical = _typical(spacing)
    if WEEKLY_SPACING[0] <= typical <= WEEKLY_SPACING[1]:
        steps = np.rint(spacing / DAYS_A_WEEK).astype(np.int64)
        steps[spacing < SKIPPED_WEEK_DAYS] = 1
        regular = np.abs(spacing - DAYS_A_WEEK) <= 1
        step_name = "week"
    elif _four_weekly(spacing):
        steps = np.rint(spacing / FOUR_WEEKS).astype(np.int64)
        regular = np.abs(spacing - FOUR_WEEKS) <= 1
        step_name = "four-week period"
    elif typical >= MONTHLY_SPACING:
        # Months between dates by where in its month each falls (a month end moved into the
        # next month, or a 4-4-5 retail month of five weeks, is about one month on) and by
        # calendar months (10 January to 29 February is one month on, not one and a half): a
        # step is skipped only where both say so.
        moves = np.diff(_month_positions(days))
        calendar = np.diff(days.astype("datetime64[M]").astype(np.int64))
        step = _typical(np.rint(moves).astype(np.int64))
        if step < 1:
            return None
        steps = np.minimum(np.rint(moves / step), np.rint(calendar / step)).astype(np.int64)
        regular = np.rint(moves) == step
        step_name = STEP_NAMES.get(step, f"{step}-month step")
    else:
        return None
    if np.mean(regular) < REGULAR_SHARE:
        return None  # irregular dates: most of them are not one step apart
    missing = np.maximum(steps - 1, 0)
    missing[:since] = 0
    skipped = np.flatnonzero(missing > 0)
    if not len(skipped):
        return None
    first = int(skipped[0])
    return DateGap(
        before=str(days[first]),
        after=str(days[first + 1]),
        missing=int(missing[first]),
        step=step_name,
        gaps=len(skipped),
    )


def repeated_day(dates: np.ndarray | None, since: int = 0) -> str | None:
    """The first day at or after date `since` holding a second value, in data of one value a
    day (closes stamped with their time; intraday data holds several by design), as the
    sentence's end; None where there is none."""
    if dates is None or len(dates) < 2:
        return None
    days = _days(dates)
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
    """Training data whose dates skip a step of their calendar, or hold two values on a day of
    data of one a day, refused before any work."""
    for item in series:
        twice = repeated_day(item.dates)
        if twice is not None:
            raise DataError(f"{whose_dates(item)} {twice}; keep one row per day (its close, say).")
        gap = first_date_gap(item.dates)
        if gap is not None:
            raise DataError(
                f"{whose_dates(item)} {gap.sentence()}; add the missing "
                f"{gap.step}s (their values, or the last value carried forward), or keep only "
                "the rows after the last gap."
            )


def date_rhythm(dates: np.ndarray) -> str | None:
    """intraday (several values a day), daily, weekly, monthly, quarterly or yearly by the
    dates' commonest spacing; None for fewer than three dates or an irregular spacing."""
    if len(dates) < 3:
        return None
    days = _days(dates)
    if days is None:
        return INTRADAY
    spacing = np.diff(days).astype(np.int64)
    if _four_weekly(spacing):
        return FOUR_WEEKLY
    typical = _typical(spacing)
    named = next((name for name, low, high in RHYTHMS if low <= typical <= high), None)
    if named in SEASON_OF_RHYTHM or named == YEARLY:
        return named
    # Daily by the days of its week: dates one to four days apart that do not step day by day on
    # any week (every fourth day, half the days at random) are irregular, and Tuesday and
    # Thursday closes whose five-day gaps outnumber their two-day ones are daily.
    return DAILY if steps_day_by_day(days, trading_week(days)) else None


def other_rhythm(metadata: Mapping[str, Any], dates: np.ndarray | None) -> str | None:
    """Why `dates` cannot feed a model fitted on data of another frequency (a weekly file for a
    monthly model reads 48 weeks as four years of months); None where they can. The model's
    metadata records its data's rhythm (`date_rhythm`); a model saved before it did is judged
    by its season, where that came from its data's dates."""
    if dates is None:
        return None
    if "date_rhythm" in metadata:  # recorded by the fit (models saved before infer it)
        recorded = metadata["date_rhythm"]
        if recorded is None:
            return None  # undated or irregular data: nothing to hold the input to
        return _other(date_rhythm(dates), {recorded})
    if metadata.get("season_from") != "dates":
        return None
    season = int(metadata.get("season_length") or 1)
    if season == 1:
        return None
    # A season may be a day's sessions too (but not a year of weeks); a week of trading days
    # is one of 2 to 7 days.
    fitted = {*RHYTHMS_OF_SEASON.get(season, ())} | ({INTRADAY} if season != WEEKS else set())
    if season in DAILY_SEASONS:
        fitted.add(DAILY)
    return _other(
        date_rhythm(dates), fitted, f" (its season, {season} values, came from its dates)"
    )


def _other(rhythm: str | None, fitted: set[str], why: str = "") -> str | None:
    """The sentence's end where the input's `rhythm` is none of those the model was `fitted`
    on (`why`: how that is known, where it is not recorded); None where it is one, or
    irregular."""
    if rhythm is None or rhythm in fitted:
        return None
    named = " or ".join(sorted(fitted - {INTRADAY})) or "intraday"
    if rhythm == FOUR_WEEKLY and "monthly" in fitted:
        # Four-week periods were monthly to the rules a model saved before them used.
        return (
            f"are {rhythm}, but the model was fitted on {named} data{why}; a model fitted on "
            "four-weekly data before they were told from monthly records them as monthly: "
            "train it again on this data, or give it monthly values"
        )
    return (
        f"are {rhythm}, but the model was fitted on {named} data{why}: give it {named} values, "
        f"or use a model fitted on {rhythm} data"
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
    gap = first_date_gap(dates, since=max(len(dates) - read, 0))
    if gap is None:
        return None
    return (
        f"the dates of the last {read} values of {whose}, which the model reads, "
        f"{gap.sentence()}; add the missing {gap.step}s to them."
    )


def refuse_mixed_rhythms(series: Sequence[Series], train_lengths: Sequence[int]) -> None:
    """A panel whose series' train splits step by different calendars (monthly beside
    quarterly, daily beside monthly), refused before any work: a model reads values by
    position, one step of one calendar, and predict holds every series to the rhythm of the
    data it was fitted on. Series of one rhythm that repeat differently (a seven-day week beside
    a five-day one) are the season's to judge; irregular or undated ones are not judged."""
    rhythms: dict[str, Series] = {}
    for item, train in zip(series, train_lengths, strict=True):
        rhythm = None if item.dates is None else date_rhythm(item.dates[:train])
        if rhythm is not None:
            rhythms.setdefault(rhythm, item)
    if len(rhythms) < 2:
        return
    (first, one), (second, other) = list(rhythms.items())[:2]
    raise DataError(
        f"series {one.series_id!r} has {first} dates and series {other.series_id!r} {second} "
        "ones, but a model reads values by position, one step of one calendar, and predict "
        "holds every series to the calendar it was fitted on: train those series apart."
    )


def data_rhythm(series: Sequence[Series], train_lengths: Sequence[int]) -> str | None:
    """The rhythm of the data a model is fitted on: that of the longest series' train split
    (the split its season is read from); None for undated or irregular data."""
    longest = max(range(len(series)), key=lambda i: len(series[i]))
    dates = series[longest].dates
    return None if dates is None else date_rhythm(dates[: train_lengths[longest]])
