"""Future dates of data written in a time zone: continued on the zone's clock, not in UTC."""

from __future__ import annotations

import logging

import numpy as np

from stockcast.data.rhythm import INTRADAY, date_rhythm
from stockcast.data.zone_brackets import LAYOUT as ZONED_LAYOUT
from stockcast.errors import first_few
from stockcast.prediction.calendar import continued_dates

log = logging.getLogger(__name__)

# How many of the zones that fit a series' offsets a warning names.
SHOWN_ZONES = 3


def future_dates(
    dates: np.ndarray, horizon: int, zones: tuple[str, ...] = ()
) -> tuple[np.ndarray, str]:
    """`zoned_future_dates`, with a warning where the zones disagree."""
    future, freq, disagree = zoned_future_dates(dates, horizon, zones)
    if disagree:
        warn_zones_disagree("the input's dates", first_few(zones, SHOWN_ZONES))
    return future, freq


def warn_zones_disagree(whose: str, fitted: str) -> None:
    """Warn that the zones `whose` dates fit (`fitted`, named) disagree on the forecast's dates,
    which therefore go on in UTC."""
    log.warning(
        "%s give UTC offsets but not their time zone, and the zones they fit (%s) disagree on "
        "the forecast's dates: those keep the last date's time in UTC; write the zone after "
        "each offset to have them follow it (%s)",
        whose,
        fitted,
        ZONED_LAYOUT,
    )


def zoned_future_dates(
    dates: np.ndarray, horizon: int, zones: tuple[str, ...] = ()
) -> tuple[np.ndarray, str, bool]:
    """The `horizon` dates after the last one (`continued_dates`), the frequency used to get
    them, and whether the zones disagreed. Daily and coarser dates written in a zone (`zones`,
    `date_zone.series_zones`) go on on its clock, so closes at 16:00 keep 16:00 across a
    daylight saving change rather than the last date's time in UTC. Where the zones that
    offsets alone fit disagree on the new dates (one offset all winter fits New York and
    Bogota), they go on in UTC, as intraday data does."""
    import pandas as pd

    future, freq = continued_dates(dates, horizon)
    if not zones or date_rhythm(dates) == INTRADAY:
        return future, freq, False
    utc = pd.DatetimeIndex(dates).tz_localize("UTC")
    local, local_freq = continued_dates(
        utc.tz_convert(zones[0]).tz_localize(None).to_numpy("datetime64[ns]"), horizon
    )
    # A time a change skips moves on by the change; one it repeats is read before it.
    found = {
        tuple(
            pd.DatetimeIndex(local)
            .tz_localize(zone, ambiguous=np.ones(horizon, dtype=bool), nonexistent="shift_forward")
            .tz_convert("UTC")
            .tz_localize(None)
            .to_numpy("datetime64[ns]")
        )
        for zone in zones
    }
    if len(found) == 1:
        return np.array(next(iter(found)), dtype="datetime64[ns]"), local_freq, False
    return future, freq, True
