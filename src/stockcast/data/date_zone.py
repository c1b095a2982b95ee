"""The time zone a series' zoned times were written in, which their reading in UTC drops.

Daily closes at 16:00 in New York read as 21:00 UTC in winter and 20:00 in summer: a forecast
continues their calendar on the zone's own clock, so its dates keep 16:00 across a daylight
saving change. A zone named in brackets (`[America/New_York]`) or held by a zoned Parquet column
is the zone; times with a UTC offset alone name none, so every zone whose offset at each time is
the one written stands for it (the forecast uses them where they all agree).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import numpy as np

# A text time's UTC offset at its end (before an RFC 9557 zone bracket and tags), and the zone
# named in that bracket. `Z` and `-00:00` give no local offset.
WRITTEN_OFFSET = re.compile(
    r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?P<offset>[+-]\d{2}:?\d{2})"
    r"(?:\[!?(?P<zone>[^\[\]=]+)\])?(?:\[[^\[\]]*\])*\s*$"
)
NO_LOCAL_OFFSET = ("-00:00", "-0000")
MINUTES_PER_HOUR = 60


def written_offsets(column: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Each cell's UTC offset in minutes east of UTC and the zone it names (None where it names
    none), for a column whose every date is written with a local offset (text, or a zoned
    Parquet column); None for any other column."""
    import pandas as pd

    present = column.dropna()
    if not len(present):
        return None
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        local = column.dt.tz_localize(None)
        minutes = (local - column.dt.tz_convert("UTC").dt.tz_localize(None)) / pd.Timedelta(
            minutes=1
        )
        # A zone's name (zoneinfo's key, pytz's zone); none for a fixed offset.
        tz = column.dt.tz
        name = getattr(tz, "key", None) or getattr(tz, "zone", None)
        return minutes.to_numpy(float), np.full(len(column), name, dtype=object)
    if not isinstance(present.iloc[-1], str) or not WRITTEN_OFFSET.search(present.iloc[-1]):
        return None  # at once for a long column of plain dates
    if not all(isinstance(cell, str) for cell in present):
        return None
    parts = column.astype(object).where(column.notna(), "").str.extract(WRITTEN_OFFSET)
    offsets = parts["offset"][column.notna()]
    if offsets.isna().any() or offsets.isin(NO_LOCAL_OFFSET).any():
        return None
    minutes = parts["offset"].map(_minutes, na_action="ignore").astype(float)
    return minutes.to_numpy(float), parts["zone"].where(parts["zone"].notna(), None).to_numpy()


def _minutes(offset: str) -> float:
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    return float(sign * (int(digits[:2]) * MINUTES_PER_HOUR + int(digits[2:])))


def series_zones(dates: np.ndarray, minutes: np.ndarray, named: np.ndarray) -> tuple[str, ...]:
    """The zones a series' dates (naive UTC) were written in: the one every date names, else
    every zone whose offset at each date is the written one (judged where the offset changes,
    and at the first and last date); none for dates all at midnight (zoned days, read as the
    local days they name) or without offsets."""
    if not len(dates) or np.isnan(minutes).any():
        return ()
    days = dates.astype("datetime64[D]").astype(dates.dtype)
    if (dates == days).all():
        return ()
    names = set(named)
    if len(names) == 1 and None not in names:
        return (str(next(iter(names))),)
    change = np.flatnonzero(np.diff(minutes) != 0)
    rows = np.unique(np.concatenate([[0, len(dates) - 1], change, change + 1]))
    instants = tuple(dates[rows].astype("datetime64[s]").astype(np.int64).tolist())
    return _matching_zones(instants, tuple(minutes[rows].tolist()))


@functools.lru_cache(maxsize=256)
def _matching_zones(instants: tuple[int, ...], minutes: tuple[float, ...]) -> tuple[str, ...]:
    """The IANA zones whose offset at each instant (seconds since 1970, UTC) is the one given:
    ids of one panel share their dates, so their zones are worked out once."""
    moments = [datetime.fromtimestamp(second, UTC) for second in instants]
    wanted = [timedelta(minutes=written) for written in minutes]
    return tuple(
        name
        for name, zone in _zones()
        if all(
            moment.astimezone(zone).utcoffset() == offset
            for moment, offset in zip(moments, wanted, strict=True)
        )
    )


@functools.cache
def _zones() -> tuple[tuple[str, ZoneInfo], ...]:
    """Every IANA zone zoneinfo knows, by name (listing them reads the zone files' folder)."""
    return tuple((name, ZoneInfo(name)) for name in sorted(available_timezones()))
