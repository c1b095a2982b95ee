"""The window `data.previous_time_window=auto` reads, from the season the data was found to
have (`seasonality`): how long it is, how long a series must be to allow it, and how the
prepare step says what it chose."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from stockcast.data.series import Series
from stockcast.data.split import split_lengths

# data.previous_time_window=auto: the window chosen from the data's season (`auto_window`).
AUTO = "auto"


def auto_window(
    season: int,
    default: int,
    horizon: int,
    train_split: int,
    longer: int | None = None,
) -> int:
    """The window `data.previous_time_window=auto` reads: the longest of up to four seasons,
    a `longer` season plus one season, and twice `default` that leaves the train split at least
    half its values as window starts (window + horizon <= half the train split), never fewer
    values than `default`. A statistical kind filters over the whole window (AutoETS and Theta
    filter over the whole history): four seasons estimate a season's indices and a trend far
    better than two; with a week and a day, an MLP on the whole window reads the whole day a
    week back around each target as well as the days since; the MLP candidates read their own
    most recent values of it."""
    seasons = {*(k * season for k in (4, 3, 2, 1)), 2 * default}
    longest = sorted(seasons | ({longer + season} if longer else set()), reverse=True)
    for window in longest:
        if window >= default and leaves_half(window, horizon, train_split):
            return window
    return default


def leaves_half(window: int, horizon: int, train_split: int) -> bool:
    """Auto's bound: a window (and its horizon) that leaves the train split at least half its
    values as window starts."""
    return window + horizon <= train_split // 2


def series_for_auto_window(window: int, horizon: int, fractions: Mapping[str, Any]) -> int:
    """The fewest values a series needs for `auto_window` to allow `window`: a train split of
    at least twice window + horizon (`split_lengths`' rounding counted, not estimated)."""
    n = max(1, math.floor(2 * (window + horizon) / float(fractions["train"])) - 2)
    while not leaves_half(window, horizon, split_lengths(n, fractions)["train"]):
        n += 1
    return n


def shortest_train_split(
    series: Sequence[Series], fractions: Mapping[str, Any], split_lengths: Any
) -> int:
    """The fewest values any series' train split gets (`split_lengths` cuts one series)."""
    return min(split_lengths(len(item), fractions)["train"] for item in series)


# Where a prepared season came from (meta.json's season_from), as the log says it.
SEASON_FROM = {
    "dates": " by the dates",
    "autocorrelation": " in the changes",
    "data.season_length": " set by data.season_length",
}


def window_sentence(meta: dict) -> str:
    """The windows' sizes, and for data.previous_time_window=auto the season it was read from
    (the shortest series' train split bounds it: a panel's short member shortens everyone's)."""
    sizes = f"{meta['previous_time_window']} values in, {meta['next_time_window']} out"
    if meta["source"].get("previous_time_window") != AUTO:
        return sizes
    season = int(meta.get("season_length") or 1)
    found = "no season" if season == 1 else f"a season of {season}"
    how = SEASON_FROM.get(meta.get("season_from"), "")
    longer = meta.get("longer_season")
    also = f" and a longer one of {longer} in the changes" if longer else ""
    return (
        f"{sizes} (data.previous_time_window=auto: {found}{how}{also}; the longest of up to "
        "four seasons, a longer season plus one, and twice data.shortest_window that leaves the "
        "shortest series' train split half its values as window starts)"
    )
