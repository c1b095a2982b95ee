"""Dates that skip a step of their own calendar: a month missing from monthly data.

A model reads values by position, so one missing month makes every later window read each
month's value as the one before it: a seasonal model then forecasts January with February's
level, and nothing in the values shows it. Weekly, monthly, quarterly and yearly data have a
step that no holiday excuses; daily and intraday data skip holidays and closed days by design,
so they are not judged here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stockcast.data.series import Series
from stockcast.errors import DataError

# Median days between dates that make data weekly, and the least days between two of its dates
# that count as a skipped week (a holiday moves a weekly date by a day or two, not by four).
WEEKLY_SPACING = (6.5, 7.5)
SKIPPED_WEEK_DAYS = 11
DAYS_A_WEEK = 7
# Median days between dates from which data steps in calendar months (monthly or coarser).
MONTHLY_SPACING = 27.5
STEP_NAMES = {1: "month", 3: "quarter", 6: "half-year", 12: "year"}


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


def first_date_gap(dates: np.ndarray | None) -> DateGap | None:
    """The first place where weekly, monthly, quarterly or yearly dates skip a step; None for
    data without such a step (undated, daily, intraday, irregular) or without a gap."""
    if dates is None or len(dates) < 3:
        return None
    times = np.asarray(dates, dtype="datetime64[ns]")
    days = times.astype("datetime64[D]")
    if (times != days.astype("datetime64[ns]")).any():
        return None  # times of day: intraday data, whose sessions skip nights by design
    spacing = np.diff(days).astype(np.int64)
    median = float(np.median(spacing))
    if WEEKLY_SPACING[0] <= median <= WEEKLY_SPACING[1]:
        missing = np.rint(spacing / DAYS_A_WEEK).astype(np.int64) - 1
        missing[spacing < SKIPPED_WEEK_DAYS] = 0
        step_name = "week"
    elif median >= MONTHLY_SPACING:
        months = days.astype("datetime64[M]").astype(np.int64)
        month_steps = np.diff(months)
        step = int(np.median(month_steps))
        if step < 1:
            return None
        missing = np.where(month_steps > step, np.rint(month_steps / step).astype(np.int64) - 1, 0)
        step_name = STEP_NAMES.get(step, f"{step}-month step")
    else:
        return None
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


def refuse_date_gaps(series: Sequence[Series]) -> None:
    """Training data whose dates skip a step of their calendar, refused before any work."""
    for item in series:
        gap = first_date_gap(item.dates)
        if gap is not None:
            raise DataError(
                f"series {item.series_id!r}: its dates {gap.sentence()}; add the missing {gap.step}s (their "
                "values, or the last value carried forward), or keep only the rows after the "
                "last gap."
            )
