"""A second, longer season beside the data's season: a multiple of it that the changes repeat with
(half-hourly electricity demand repeats daily, 48, and weekly, 336: its weekdays differ from its
weekends). `data.previous_time_window=auto` may then read that season plus one of the first, so
that a model on the whole window reads the whole day a week back.

Dated data tries the one such season a calendar makes, the week of intraday data; undated data
two to seven times its season. Positions are counted along the values, so a day missing from
the train split shifts the week by a day from there on: dated data with holidays passes the
tests with less to spare, or not at all. Two tests, both on the train split's changes, each
position of the season in units of its own spread (an opening bar moves more than the others,
which alone made a first version find seasons in random walks of intraday prices):
- nested means: the means at each position of the longer season must leave significantly less
  than the means at each position of the season do (an F test), at a bar far past a usual level
  because changes are seldom independent (those of a weekday pattern plus white noise correlate
  at lag one; 300 such series of 2,044 days without a longer season reached z = 3.8 at most,
  weekly patterns of hours over five to sixteen weeks gave 7.5 to 36, taylor's week 39);
- recurrence: the pattern's departures from the season's means in the first half must correlate
  with those in the second. A few multi-day events pass the first test where a pattern repeats
  only a few times, but not this one.
A weekly pattern that shows in the changes only where it starts and ends (a weekend's level
lower all day) or is weak against the noise is found late or not at all: the window then stays
at four seasons.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from stockcast.data.intraday import intraday_rhythm, intraday_sessions, mondays_of
from stockcast.data.seasonality import demeaned_changes, f_as_normal_deviate, left_by_position
from stockcast.data.series import Series
from stockcast.data.split import split_lengths

# The chance of a normal deviate above the bar the F statistic's z must reach: 1e-9 (z near 6).
LONGER_SEASON_CHANCE = 1e-9
# Undated data: the multiples tried, two to seven times the season (up to a week of days). Far
# longer multiples repeat a handful of times in a train split, and a few multi-day events or a
# slowly drifting season then cleared the bar (a multiple of 520 days in a seasonal
# autoregression, of 693 among random bumps).
UNDATED_MULTIPLES = tuple(range(2, 8))
# The pattern must recur: its departures from the season's means in the first half of the changes
# must correlate with those in the second half at least this z (Fisher's): a one-off event fits
# one half only.
MIN_RECURRENCE_Z = 3.0
# A position of the season whose changes spread less than this share of the widest position's
# does not vary (a solar panel at night): what is left there is rounding, not a pattern.
STILL_POSITION_SHARE = 1e-6
# Whole cycles of a multiple each half of the changes must hold for it to be tried: the
# recurrence test compares the halves' means at each of its positions.
CYCLES_PER_HALF = 2


def longer_season(
    values: np.ndarray, season: int, multiples: Sequence[int] = UNDATED_MULTIPLES
) -> int | None:
    """The multiple of `season` among `multiples` (each repeating at least `CYCLES_PER_HALF`
    times in each half of the series) whose positions' means explain the changes beyond the
    bar, best, and alike in both halves; None where there is no season or none does."""
    changes = demeaned_changes(values)
    if changes is None or season <= 1:
        return None
    fitting = multiples_that_fit(len(changes), season, multiples)
    if not fitting:
        return None
    # In units of the largest change, no square overflows.
    within = left_by_position(changes / np.abs(changes).max(), season)
    position = np.arange(len(within)) % season
    spread = np.sqrt(np.bincount(position, within**2, season) / np.bincount(position))
    varies = spread > STILL_POSITION_SHARE * spread.max()
    if not varies.any():
        return None
    kept = varies[position]
    standardised = np.where(kept, within / np.where(varies, spread, 1.0)[position], 0.0)
    left_by_season = float(standardised @ standardised)
    bar = NormalDist().inv_cdf(1 - LONGER_SEASON_CHANCE)
    best, best_z = None, bar
    for multiple in fitting:
        longer = multiple * season
        left = left_by_position(standardised, longer)[kept]
        left_by_longer = float(left @ left)
        more_means = (multiple - 1) * int(varies.sum())
        freedom = int(kept.sum()) - multiple * int(varies.sum())
        if left_by_longer <= 0 or freedom <= 0:
            continue  # the longer season's means fit every change: nothing left to judge by
        f = (left_by_season - left_by_longer) / more_means / (left_by_longer / freedom)
        z = f_as_normal_deviate(f, more_means, freedom)
        if z >= best_z and recurrence_z(standardised, season, multiple, varies) >= (
            MIN_RECURRENCE_Z
        ):
            best, best_z = longer, z
    return best


def multiples_that_fit(changes: int, season: int, multiples: Sequence[int]) -> list[int]:
    """The `multiples` of `season` that `changes` values can judge: `CYCLES_PER_HALF` whole
    cycles in each half."""
    if season <= 1:
        return []
    return [m for m in multiples if m >= 2 and 2 * CYCLES_PER_HALF * m * season <= changes]


def recurrence_z(standardised: np.ndarray, season: int, multiple: int, varies: np.ndarray) -> float:
    """Fisher's z of the correlation between the departures of the longer season's position
    means from the season's, in the first half of the `standardised` changes and in the second
    (positions of the season that do not vary left out); minus infinity where the departures
    are too few to judge (three or fewer) or one half's do not vary."""
    longer = multiple * season
    half = len(standardised) // 2
    departures = []
    for start, part in ((0, standardised[:half]), (half, standardised[half:])):
        position = (start + np.arange(len(part))) % longer
        means = np.bincount(position, part, longer) / np.bincount(position, minlength=longer)
        by_cycle = means.reshape(multiple, season)
        departures.append((by_cycle - by_cycle.mean(axis=0))[:, varies].ravel())
    first, second = departures
    free = (multiple - 1) * int(varies.sum())
    if free <= 3 or first.std() == 0 or second.std() == 0:
        return -math.inf
    r = float(np.corrcoef(first, second)[0, 1])
    if r >= 1.0:
        return math.inf
    return math.atanh(r) * math.sqrt(free - 3)


def multiples_to_try(dates: np.ndarray | None, season: int) -> tuple[int, ...]:
    """Which multiples of `season` a train split of these `dates` may repeat with: undated
    (None), `UNDATED_MULTIPLES`; dated and intraday, the one that makes its week
    (`values_a_week`), if the week is a whole number of seasons; otherwise none. A calendar month
    or year is no whole number of weeks, and daily data's month ends then passed as a season of
    five weeks."""
    if dates is None:
        return UNDATED_MULTIPLES
    week = values_a_week(dates)
    if week is None or season <= 1 or week % season or week // season < 2:
        return ()
    return (week // season,)


def values_a_week(dates: np.ndarray) -> int | None:
    """The values a week of regular intraday data holds: around the clock, the times of the week
    it holds (120 for currencies' hours from Sunday to Friday evening, 168 for every hour); in
    sessions, a session's values times the sessions of its usual whole week (5 for an exchange,
    however its sessions fall on UTC days); None for other data."""
    rhythm = intraday_rhythm(dates)
    if rhythm is None:
        return None
    if rhythm.weekly is not None:
        return len(rhythm.weekly)
    if rhythm.offsets is None:
        return None
    sessions = intraday_sessions(np.asarray(dates, dtype="datetime64[ns]"), rhythm.gap)
    _, per_week = np.unique(mondays_of(np.array([run[0] for run in sessions])), return_counts=True)
    whole = per_week[1:-1]  # the first and the last week may be cut
    if not len(whole):
        return None
    return len(rhythm.offsets) * int(np.bincount(whole).argmax())


def panel_longer_season(
    series: Sequence[Series], season: int, fractions: Mapping[str, float]
) -> int | None:
    """The longer season at least half of the series that can show one show, each judged alone
    on its train split (`fractions`: data.split); of equally common ones, the longest. The
    window it lengthens is every series' window, so neither one series alone decides it nor
    their names; a series too short to judge has no say."""
    found: Counter[int] = Counter()
    judged = 0
    for item in series:
        train = split_lengths(len(item), fractions)["train"]
        multiples = multiples_to_try(None if item.dates is None else item.dates[:train], season)
        if not multiples_that_fit(train - 1, season, multiples):
            continue
        judged += 1
        longer = longer_season(item.values[:train], season, multiples)
        if longer is not None:
            found[longer] += 1
    if not found:
        return None
    count, longer = max((count, longer) for longer, count in found.items())
    return longer if 2 * count >= judged else None
