"""Future dates of every series of a batch, each distinct calendar continued once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stockcast.data.series import Series
from stockcast.errors import counted, first_few
from stockcast.prediction.calendar import calendar_to_continue
from stockcast.prediction.zoned_dates import SHOWN_ZONES, warn_zones_disagree, zoned_future_dates


def shared_future_dates(
    series: Sequence[Series], horizon: int, read: int, metadata: Mapping[str, Any]
) -> tuple[np.ndarray, list[str]]:
    """Future dates of every series, continuing each distinct calendar once
    (`calendar_to_continue`: `read` and `metadata` are the model's): ids of a panel usually
    share theirs, and inferring a frequency costs far more than comparing dates. Series whose
    zones disagree on their dates are warned of once, counted: a panel's many calendars said
    the same sentence over and over."""
    known: dict[
        tuple[int, Any, Any, tuple[str, ...]], list[tuple[np.ndarray, np.ndarray, str, bool]]
    ] = {}
    dates = np.empty((len(series), horizon), dtype="datetime64[ns]")
    frequencies = []
    disagreeing = []
    for i, item in enumerate(series):
        calendar = item.dates
        assert calendar is not None
        key = (len(calendar), calendar[0], calendar[-1], item.zones)
        candidates = known.setdefault(key, [])
        match = next((c for c in candidates if np.array_equal(c[0], calendar)), None)
        if match is None:
            match = (
                calendar,
                *zoned_future_dates(
                    calendar_to_continue(calendar, read, metadata), horizon, item.zones
                ),
            )
            candidates.append(match)
        dates[i] = match[1]
        frequencies.append(match[2])
        if match[3]:
            disagreeing.append(item)
    if disagreeing:
        first = disagreeing[0]
        warn_zones_disagree(
            f"the dates of {counted(len(disagreeing), 'series', 'series')}",
            f"{first_few(first.zones, SHOWN_ZONES)} for series {first.series_id!r}",
        )
    return dates, frequencies
