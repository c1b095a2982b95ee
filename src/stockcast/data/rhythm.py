"""The rhythm of a series' dates (intraday, daily, weekly, two-weekly, four-weekly, monthly,
bimonthly, quarterly, half-yearly, yearly) by their commonest spacing: what a model's season is
read from, what a panel's series must share, and what predict holds an input's dates to
(`other_rhythm`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stockcast.data.calendar import steps_day_by_day, trading_week
from stockcast.data.series import Series
from stockcast.errors import DataError

# Commonest days between dates that make data weekly.
WEEKLY_SPACING = (6.5, 7.5)
DAYS_A_WEEK = 7
# Values per day, on average, from which data is intraday.
INTRADAY_VALUES_A_DAY = 1.5
# Commonest days between dates from which data steps in calendar months (monthly or coarser).
MONTHLY_SPACING = 27.5
# Data of four-week periods (13 a year, a retail or payroll calendar) steps 28 days nearly
# always, where monthly data's commonest step is 30 or 31 days and a 4-4-5 calendar's is 28
# only two times in three: this share of its steps lie within a day of 28.
FOUR_WEEKS = 28
FOUR_WEEKLY_SHARE = 0.9
# Data of two-week periods (26 a year: biweekly payroll) steps 14 days nearly always, where data
# twice a month (the 1st and the 15th) steps 14 days only about half the time: this share of its
# steps lie within a day of 14.
TWO_WEEKS = 14
TWO_WEEKLY_SHARE = 0.9
# Dates' rhythm by their commonest spacing in days (closer than a day, or with times of day:
# intraday); others are irregular and not judged. Two months are 59 to 62 days (31 January to
# 31 March, 30 November to 31 January), half a year 181 to 184 (30 June to 31 December, and
# back); each band, as the quarter's, leaves a day or two for a date a weekend moved.
DAILY, YEARLY, FOUR_WEEKLY, TWO_WEEKLY = "daily", "yearly", "four-weekly", "two-weekly"
BIMONTHLY, HALF_YEARLY = "bimonthly", "half-yearly"
RHYTHMS = (
    (DAILY, 0.9, 4.5),
    ("weekly", *WEEKLY_SPACING),
    ("monthly", MONTHLY_SPACING, 31.5),
    (BIMONTHLY, 57.0, 63.0),
    ("quarterly", 88.0, 93.0),
    (HALF_YEARLY, 179.0, 186.0),
    (YEARLY, 360.0, 370.0),
)
INTRADAY = "intraday"
# The season each rhythm repeats with: a year of weeks, two-week and four-week periods, months,
# two-month periods, quarters and half-years (daily data's is the days of the week it trades
# on, intraday data's a day's sessions; yearly data has none).
WEEKS = 52
SEASON_OF_RHYTHM = {
    "weekly": WEEKS,
    TWO_WEEKLY: 26,
    FOUR_WEEKLY: 13,
    "monthly": 12,
    BIMONTHLY: 6,
    "quarterly": 4,
    HALF_YEARLY: 2,
}
# Rhythms told only once models recorded their data's (`other_rhythm`): a model saved before
# that found such dates irregular, so no season of its came from them, and its season of 2, 6
# or 26 is a week of trading days or a day's sessions.
RECORDED_ONLY = {TWO_WEEKLY, BIMONTHLY, HALF_YEARLY}
# The rhythms of data whose dates give each season beside a day's sessions, to a model saved
# before the record (a season of 1, yearly or irregular, says nothing sure and is not judged).
RHYTHMS_OF_SEASON = {
    season: {rhythm} for rhythm, season in SEASON_OF_RHYTHM.items() if rhythm not in RECORDED_ONLY
}
DAILY_SEASONS = range(2, 8)  # the trading days of a week


def days_of(dates: np.ndarray) -> np.ndarray | None:
    """The dates' days where most days hold one value (a weekly close at 16:00 is weekly data,
    and a day written twice does not make it intraday); None for intraday data, several values
    on most days."""
    days = np.asarray(dates, dtype="datetime64[ns]").astype("datetime64[D]")
    return None if len(days) >= INTRADAY_VALUES_A_DAY * len(np.unique(days)) else days


def commonest_step(steps: np.ndarray) -> int:
    """The commonest step, the shorter of equally common ones: three dates a month, then two
    months apart, step by one month (their median would be one and a half)."""
    values, counts = np.unique(steps, return_counts=True)
    return int(values[counts == counts.max()][0])


def four_weekly(spacing: np.ndarray) -> bool:
    """Whether the days between dates are those of four-week periods (`FOUR_WEEKLY_SHARE`)."""
    return _nearly_always(spacing, FOUR_WEEKS, FOUR_WEEKLY_SHARE)


def two_weekly(spacing: np.ndarray) -> bool:
    """Whether the days between dates are those of two-week periods (`TWO_WEEKLY_SHARE`)."""
    return _nearly_always(spacing, TWO_WEEKS, TWO_WEEKLY_SHARE)


def _nearly_always(spacing: np.ndarray, days: int, share: float) -> bool:
    """Whether at least `share` of the days between dates lie within a day of `days`: periods
    of whole weeks step by their days, a holiday moving a date by a day, where a calendar of
    months (or of two dates a month) steps by days that vary with the month."""
    return bool(np.mean(np.abs(spacing - days) <= 1) >= share)


def date_rhythm(dates: np.ndarray) -> str | None:
    """intraday (several values a day), daily, weekly, two-weekly, four-weekly, monthly,
    bimonthly, quarterly, half-yearly or yearly by the dates' commonest spacing (two- and
    four-weekly by nearly every spacing); None for fewer than three dates or an irregular
    spacing."""
    if len(dates) < 3:
        return None
    days = days_of(dates)
    if days is None:
        return INTRADAY
    spacing = np.diff(days).astype(np.int64)
    if four_weekly(spacing):
        return FOUR_WEEKLY
    if two_weekly(spacing):
        return TWO_WEEKLY
    typical = commonest_step(spacing)
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
