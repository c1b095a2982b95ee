"""The season a series repeats with, and the window a model reads, chosen from the data.

The season comes from `data.season_length` when set; else from the dates' spacing (monthly data
repeats every 12 values, quarterly every 4, business days every 5); undated data keeps no season
unless the differences of its train split correlate clearly with themselves one lag later (a lag
the autocorrelation singles out). `data.previous_time_window=auto` then takes up
to four seasons (or twice the default window), or a longer season the changes repeat with
plus one season (a week of half-hours beside their day), where the train split is long enough
for them, and never fewer values than the default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from stockcast.data.calendar import trading_week
from stockcast.data.intraday import intraday_rhythm
from stockcast.data.rhythm import DAILY, SEASON_OF_RHYTHM, date_rhythm
from stockcast.data.series import Series
from stockcast.data.split import split_lengths
from stockcast.errors import DataError

# Undated data: the largest lag searched, as a fraction of the series, and how strongly the
# differences must correlate at the chosen lag to call it a season (random walks stay at ~0).
MAX_LAG_FRACTION = 1 / 3
MIN_SEASONAL_AUTOCORRELATION = 0.3
# On a short split the bar is also what white noise's largest autocorrelation over the lags
# searched reaches with this chance (each lag's is about normal with spread 1 / sqrt(n)): 0.3
# alone gave a random walk of 60 values a season one time in ten.
FALSE_SEASON_CHANCE = 0.05
# How far the FFT's autocorrelations may lie from each lag's own dot product, relative to the
# variance (about 2e-15 measured): where a lag this close to 0 or to the largest one decides the
# season, its own dot product decides.
FFT_ROUNDING = 1e-9


def season_from_dates(dates: np.ndarray) -> int:
    """The season that the dates' spacing implies (1: none): regular intraday data repeats
    daily (`intraday_rhythm`: 24 for hours, 13 for the half-hours of a 6.5-hour session; none
    for irregular ticks or too few sessions to tell); data of a calendar step a year of its
    steps (`SEASON_OF_RHYTHM`: weekly 52, two-weekly 26, four-weekly 13, monthly 12, bimonthly
    6, quarterly 4, half-yearly 2), and daily data (`date_rhythm`, the rhythm predict holds an
    input's dates to: dates that step day by day on the days of the week they trade on) with
    those days (`trading_week`: 5 for business days, Monday to Friday or Sunday to Thursday, 7
    for every day, 3 for Mondays, Wednesdays and Fridays). Data a few days apart, or sampled at
    random, does not repeat with a week at its positions."""
    times = np.asarray(dates, dtype="datetime64[ns]")
    if len(times) < 3:
        return 1
    sessions = intraday_rhythm(times)
    if sessions is not None:
        return sessions.per_day
    rhythm = date_rhythm(times)
    if rhythm == DAILY:
        return sum(trading_week(times.astype("datetime64[D]")))
    return SEASON_OF_RHYTHM.get(rhythm or "", 1)


def panel_season_from_dates(series: Sequence[Series], fractions: Mapping[str, float]) -> int:
    """The one season the dates of every series' train split give (`fractions`: data.split;
    the later splits' dates take no part, as their values take none). A model reads one season
    (its window, its seasonal members, the bands' unit), so a panel whose series repeat
    differently (monthly beside daily, a seven-day week beside a five-day one) is refused
    rather than given the longest series' season, which the others do not have."""
    seasons: dict[int, Series] = {}
    for item in sorted(series, key=len, reverse=True):
        assert item.dates is not None
        train = item.dates[: split_lengths(len(item), fractions)["train"]]
        seasons.setdefault(season_from_dates(train), item)
    if len(seasons) == 1:
        return next(iter(seasons))
    (first, one), (second, other) = list(seasons.items())[:2]
    others = len(seasons) - 2
    more = f" ({others} more season{'s' * (others > 1)} in the panel)" if others else ""
    raise DataError(
        f"series {one.series_id!r} {_by_its_dates(first)} and series {other.series_id!r} "
        f"{_by_its_dates(second)}{more}, "
        "but one model reads one season; set data.season_length to the one to use (e.g. "
        f"data.season_length={first}), or train those series apart."
    )


def _by_its_dates(season: int) -> str:
    """A series' season as the refusal of a mixed panel names it."""
    return (
        "has no season by its dates"
        if season == 1
        else f"repeats every {season} values by its dates"
    )


def season_from_values(values: np.ndarray) -> int:
    """The lag at which the series' changes correlate most with themselves, past the lags where
    a smooth series merely correlates with its neighbours (the first lag with a negative
    correlation), when that correlation reaches `MIN_SEASONAL_AUTOCORRELATION` and is a peak: a
    correlation still rising at the last lag searched belongs to a season too long for the
    series to show, and gives 1, as every other case does."""
    changes = demeaned_changes(values)
    max_lag = int(len(changes) * MAX_LAG_FRACTION) if changes is not None else 0
    if changes is None or max_lag < 2:
        return 1
    variance = float(changes @ changes)
    # One lag past the search, to tell a peak at its edge from a climb towards a longer season.
    beyond = min(max_lag + 1, len(changes) - 1)
    lags = np.arange(1, beyond + 1)
    correlation = lag_products(changes, beyond) / variance
    searched = correlation[:max_lag]
    first = first_negative(changes, searched)
    if first is None:
        return 1
    # Which lag is largest is decided by each lag's own dot product, not the FFT's rounding
    # of an exact tie.
    _exactly(changes, correlation, correlation >= searched[first:].max() - FFT_ROUNDING, variance)
    best = first + int(np.argmax(searched[first:]))
    still_rising = best + 1 < len(correlation) and correlation[best + 1] > correlation[best]
    if still_rising or correlation[best] < seasonal_bar(len(changes), max_lag):
        return 1
    season = nearest_season(changes, int(lags[best]), max_lag)
    return shortest_whole_season(changes, season, int(lags[first]))


def shortest_whole_season(changes: np.ndarray, season: int, shortest: int) -> int:
    """The shortest season from `shortest` (the first lag searched) that `season` is a whole
    multiple of, whose positions' means `season`'s do not beat significantly (an F test of the
    nested means at `FALSE_SEASON_CHANCE`), else `season`. Every multiple of a season
    correlates about as strongly as the season itself, so on a long noisy split the largest
    correlation fell on 24, 36 or up to 120 for a season of 12 about half the time; a longer
    season the changes do repeat with is longer_season.py's to find."""
    variance = float(changes @ changes)
    left_by_season = _sum_left(changes, season)
    bar = NormalDist().inv_cdf(1 - FALSE_SEASON_CHANCE)
    for divisor in (d for d in range(max(2, shortest), season // 2 + 1) if season % d == 0):
        left_by_divisor = _sum_left(changes, divisor)
        if left_by_season <= FFT_ROUNDING * variance:
            # The season's means fit every change: only a divisor's that do too explain as much.
            if left_by_divisor <= FFT_ROUNDING * variance:
                return divisor
            continue
        more_means, freedom = season - divisor, len(changes) - season
        f = (left_by_divisor - left_by_season) / more_means / (left_by_season / freedom)
        if f_as_normal_deviate(f, more_means, freedom) < bar:
            return divisor
    return season


def _sum_left(changes: np.ndarray, season: int) -> float:
    left = left_by_position(changes, season)
    return float(left @ left)


def f_as_normal_deviate(f: float, numerator: int, denominator: int) -> float:
    """Paulson's normal approximation to an F statistic of `numerator` and `denominator` degrees
    of freedom (from Wilson and Hilferty's cube root), so that preparing data needs no statistics
    library. Near the bar it overstates the tail chance, by up to about four times at a few
    numerator degrees of freedom and hardly at a hundred or more: the bar only gets stricter."""
    if f <= 0:
        return -math.inf
    a, b = 2 / (9 * numerator), 2 / (9 * denominator)
    cube = f ** (1 / 3)
    return ((1 - b) * cube - (1 - a)) / math.sqrt(b * cube**2 + a)


def lag_products(changes: np.ndarray, lags: int) -> np.ndarray:
    """`changes[lag:] @ changes[:-lag]` for each lag from 1 to `lags`, all at once through the
    FFT (zero-padded, so no lag wraps around): a dot product per lag cost the series' length
    times the lags searched, a third of it, so it grew with the square of the series (400,000
    undated values took 17 s to prepare, a million over a minute)."""
    size = 1 << (2 * len(changes) - 1).bit_length()
    spectrum = np.fft.rfft(changes, size)
    return np.fft.irfft(spectrum * spectrum.conj(), size)[1 : lags + 1]


def first_negative(changes: np.ndarray, correlation: np.ndarray) -> int | None:
    """The index of the first negative `correlation` (of lags 1, 2, ...), or None; one within
    the FFT's rounding of 0 is judged by its lag's own dot product, so an exact 0 is not
    negative (only the lags up to the first negative one are computed again)."""
    for index in np.flatnonzero(correlation < FFT_ROUNDING):
        if correlation[index] < -FFT_ROUNDING or _dot(changes, index + 1) < 0:
            return int(index)
    return None


def _exactly(
    changes: np.ndarray, correlation: np.ndarray, where: np.ndarray, variance: float
) -> None:
    """`correlation` (of lags 1, 2, ...) at `where` from each lag's own dot product."""
    for index in np.flatnonzero(where):
        correlation[index] = _dot(changes, index + 1) / variance


def _dot(changes: np.ndarray, lag: int) -> float:
    return float(changes[lag:] @ changes[:-lag])


def nearest_season(changes: np.ndarray, lag: int, max_lag: int) -> int:
    """The season near `lag` (one lag at a time, up to `max_lag`) whose positions' means leave
    the changes the least variance per degree of freedom. Each lag's correlation is a sum over
    fewer pairs the longer the lag, which favours the shorter of two neighbours: a clean 30-value
    season over 105 values peaked at 29, and a noisy 48 anywhere from 45 to 51; a season's own
    length repeats its positions exactly, its neighbours drift through them."""
    season = lag
    while True:
        near = [m for m in (season - 1, season, season + 1) if 2 <= m <= max_lag]
        best = min(near, key=lambda m: _variance_left(changes, m))
        if best == season:
            return season
        season = best


def _variance_left(changes: np.ndarray, season: int) -> float:
    """The changes' variance about their mean at each position of `season`, per degree of
    freedom (a season's means cost one each)."""
    left = left_by_position(changes, season)
    return float(left @ left) / (len(changes) - season)


def demeaned_changes(values: np.ndarray) -> np.ndarray | None:
    """The series' changes less their mean, or None where they are all alike up to rounding (a
    straight line's changes differ by 1e-14: nothing in them repeats)."""
    changes = np.diff(np.asarray(values, dtype=np.float64))
    if not len(changes):
        return None
    changes = changes - changes.mean()
    return None if np.allclose(changes, 0.0) else changes


def left_by_position(changes: np.ndarray, season: int) -> np.ndarray:
    """What the mean of each position of `season` leaves of the changes."""
    position = np.arange(len(changes)) % season
    means = np.bincount(position, changes, season) / np.bincount(position, minlength=season)
    return changes - means[position]


def seasonal_bar(changes: int, lags: int) -> float:
    """How strongly `changes` differences must correlate at a lag, the largest of `lags`
    searched, to be a season: `MIN_SEASONAL_AUTOCORRELATION`, or on a short split more, what
    chance alone gives white noise's largest one with `FALSE_SEASON_CHANCE` (Bonferroni over
    the lags, both signs)."""
    chance = NormalDist().inv_cdf(1 - FALSE_SEASON_CHANCE / (2 * lags)) / math.sqrt(changes)
    return max(MIN_SEASONAL_AUTOCORRELATION, chance)


def infer_season_length(
    series: Sequence[Series], configured: int | None, fractions: Mapping[str, float]
) -> tuple[int, str]:
    """(season length, where it came from): the config's, the dates of every series' train
    split (one season they all share), or else the values of the longest series' train split
    (`fractions`: data.split). The season shapes the model before it is fitted (its window,
    Theta's seasonal indices, the bands' unit): the validation split, which then judges that
    model, and the test split take no part in it."""
    if configured is not None:
        return int(configured), "data.season_length"
    longest = max(series, key=len)
    if longest.dates is not None:
        return panel_season_from_dates(series, fractions), "dates"
    train = longest.values[: split_lengths(len(longest), fractions)["train"]]
    return season_from_values(train), "autocorrelation"
