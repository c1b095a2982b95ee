"""The days a replay runs: the days ending at `replay.end` on which the data gains values (its
own dates, whatever their frequency), whether the data has enough to train on over them, and no
setting given that the replay sets for each day itself, all settled before the replay's store is
made."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from omegaconf import DictConfig

from stockcast.config.compose import plain
from stockcast.config.overrides import override_key, override_value
from stockcast.data.calendar import (
    BUSINESS_WEEK,
    DAY,
    after_today,
    day_text,
    parse_day,
    today_utc,
    trading_week,
)
from stockcast.data.known_data import check_long_enough_as_of, known_data
from stockcast.data.series import Series
from stockcast.errors import ConfigError, DataError, TooEarly


def replay_end(end: str | None) -> np.datetime64:
    """`replay.end` (None: today) as a day, never after today: a day that has not come has no
    data to replay."""
    last = parse_day(end or today_utc(), "replay.end")
    today = after_today(last)
    if today is not None:
        raise ConfigError(
            f"replay.end={day_text(last)} is after today ({today}, UTC), and a day "
            "that has not come cannot be replayed; give a past day, or leave it unset for today."
        )
    return last


def simulated_days(
    end: str | None, days: int, dates: Sequence[np.ndarray] = (), lag_days: int = 0
) -> list[str]:
    """The last `days` days up to `end` on which the data gains values: each day its series
    hold a value on (`dates`, the data's as of `end`), `lag_days` later (data.release_lag_days).
    A run on any other day finds no new data, and business days lumped a weekend's values of
    data that trades then into Monday's run and replayed a month of refused days for each
    monthly value. Before the data's first date (a source keeping only its latest values), and
    for no dates, the days continue on the data's trading week: business days for data on
    Monday to Friday."""
    last = replay_end(end)
    held = [np.asarray(d, dtype=DAY) for d in dates if len(d)]
    known = np.unique(np.concatenate(held)) if held else np.array([], dtype=DAY)
    known = known + np.timedelta64(lag_days, "D")
    known = known[known <= last][-days:]
    earlier = days - len(known)
    if earlier > 0:
        week = trading_week(np.concatenate(held)) if held else BUSINESS_WEEK
        anchor = known[0] if len(known) else last + np.timedelta64(1, "D")
        steps = -np.arange(earlier, 0, -1)
        before = np.busday_offset(anchor, steps, roll="forward", weekmask=list(week))
        known = np.concatenate([before.astype(DAY), known])
    return [day_text(day) for day in known]


def planned_days(cfg: DictConfig, days: int) -> list[str]:
    """The replay's days (`simulated_days` on the data as of `replay.end`), refused where the
    data has too little to train on over them, before the store is made: each day until there
    is enough would be refused at prepare in turn (days=100000 ran for hours, a day at a time).
    Data the end cannot train on (a file too short, a missing one, a column it lacks) is
    refused in prepare's own sentence; a first day before the data has enough, naming that day
    and the fix."""
    data_cfg = plain(cfg.data)
    end = day_text(replay_end(cfg.replay.end))
    try:
        series = check_long_enough_as_of({**data_cfg, "as_of": end})
    except TooEarly as err:
        # Its advice named data.as_of, which a replay refuses: the day is replay.end's.
        raise ConfigError(
            f"replay.end={end} has too little data to train on: "
            + err.advising("give a later replay.end")
        ) from None
    refuse_undated(series)
    dates = [item.dates for item in series if item.dates is not None]
    found = simulated_days(end, days, dates, int(data_cfg.get("release_lag_days") or 0))
    try:
        check_long_enough_as_of({**data_cfg, "as_of": found[0]})
    except TooEarly as err:
        raise ConfigError(
            f"the replay's first day, {found[0]}, has too little data to train on: "
            + err.advising("give fewer days or a later replay.end")
        ) from None
    except DataError as err:
        raise ConfigError(
            f"the replay's first day, {found[0]}, has too little data to train on "
            f"({str(err).rstrip('.')}); give fewer days or a later replay.end."
        ) from None
    return found


def data_as_of(cfg: DictConfig, day: str) -> Sequence[Series]:
    """The series the run's data config holds as of `day`."""
    return known_data({**plain(cfg.data), "as_of": day}).series


def refuse_undated(series: Sequence[Series]) -> None:
    """Undated data, refused before a replay's (next) day: every day would train on all of it,
    and the plot of the days has no dates to draw them on."""
    if all(item.dates is None for item in series):
        raise ConfigError(
            "a replay steps through days by data.as_of, and the data has no dates "
            "(data.date_column=null), so every day would see all of it: replay dated data, or "
            "run the pipeline on this data."
        )


# Settings every day's pipeline gets from the replay after the user's overrides: given, each was
# dropped without a word. What the refusal says, with the value given.
SET_BY_THE_REPLAY = {
    "data.as_of": (
        "a replay sets data.as_of to each day it simulates, so data.as_of={value} would be "
        "ignored; give replay.end={value} to end the replay on that day instead."
    ),
    "data.require_new_data": (
        "a replay requires each day to bring new data, as the daily schedule does, so "
        "data.require_new_data={value} would be ignored; leave it out."
    ),
}


def refuse_own_day(given: Sequence[str]) -> None:
    """Refuse a setting the replay sets for every day itself (`SET_BY_THE_REPLAY`): given to a
    new replay, it was dropped without a word (a `data.as_of` ran the days up to `replay.end`,
    today by default, instead)."""
    for override in given:
        said = SET_BY_THE_REPLAY.get(override_key(override))
        if said is not None:
            raise ConfigError(said.format(value=override_value(override)))
