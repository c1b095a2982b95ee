"""The days a replay runs: the business days ending at `replay.end`, whether the data has
enough to train on over them, and no setting given that the replay sets for each day itself,
all settled before the replay's store is made."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from omegaconf import DictConfig

from stockcast.config.compose import plain
from stockcast.config.overrides import override_key, override_value
from stockcast.data.calendar import after_today, business_days, day_text, parse_day, today_utc
from stockcast.data.prepared import check_long_enough_as_of, data_end, known_data
from stockcast.data.series import Series
from stockcast.errors import ConfigError, DataError, counted


def simulated_days(end: str | None, days: int) -> list[str]:
    """The `days` business days ending at `end` (or the last business day up to it), never
    after today: a day that has not come has no data to replay."""
    last = parse_day(end or today_utc(), "replay.end")
    today = after_today(last)
    if today is not None:
        raise ConfigError(
            f"replay.end={day_text(last)} is after today ({today}, UTC), and a day "
            "that has not come cannot be replayed; give a past day, or leave it unset for today."
        )
    # Enough calendar days to hold `days` business days, whatever the weekday of `last`.
    first = last - np.timedelta64(days * 7 // 5 + 7, "D")
    found = business_days(first, last)
    if len(found) < days:
        raise ConfigError(
            f"cannot find {counted(days, 'business day')} ending at {day_text(last)}."
        )
    return [day_text(day) for day in found[-days:]]


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


def check_days_have_data(cfg: DictConfig, days: Sequence[str]) -> None:
    """Refuse a plan whose days have too little data to train on, before the store is made:
    each day until there is enough would be refused at prepare in turn (days=100000 ran for
    hours, a day at a time). Data its last day cannot train on (a file too short, a missing
    one, a column it lacks) is refused in prepare's own sentence; a first day before the data
    has enough, naming that day and the fix."""
    data_cfg = plain(cfg.data)
    last = check_long_enough_as_of({**data_cfg, "as_of": days[-1]})
    refuse_undated(last)
    try:
        first = check_long_enough_as_of({**data_cfg, "as_of": days[0]})
    except DataError as err:
        raise ConfigError(
            f"the replay's first day, {days[0]}, has too little data to train on "
            f"({str(err).rstrip('.')}); give fewer days or a later replay.end."
        ) from None
    if len(days) > 1 and data_end(last) <= data_end(first):
        # Every day after the first would find no new data (data.require_new_data): a file that
        # ends before the replay's days (replay.end defaults to today) replays one day.
        raise ConfigError(
            f"the data ends on {data_end(last)[0]} as of the replay's last day, {days[-1]}, as "
            f"it does as of its first, {days[0]}, so every day after the first would be refused "
            "for no new data; end the replay where the data ends (replay.end), or give data "
            "that reaches its days."
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
