"""Which of the champion's stored forecasts have matured: the ledger's forecasts matched with the
values today's data holds after each origin, and those that wait, came before the data, or lost
their series."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stockcast.data.date_format import format_dates
from stockcast.registry.ledger import LedgerForecast

if TYPE_CHECKING:  # an annotation only: the data package is not loaded for it
    from stockcast.data.prepared import PreparedData


@dataclass(frozen=True)
class Observed:
    """One series as the data shows it today: values and their ISO dates."""

    series_id: str
    values: np.ndarray
    dates: tuple[str, ...]
    # The zones its dates were written in (`Series.zones`): its forecasts' dates go on in them.
    zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class Matured:
    """A ledger forecast whose every step has a value in the data, with the actual values."""

    forecast: LedgerForecast
    actual: np.ndarray


def observed_series(prepared: PreparedData) -> list[Observed]:
    """Each full series back from its splits (val and test start with train's last values as
    context, which appear once here); None dates when the data has none."""
    context = prepared.window.previous_time_window
    observed = []
    for i, series_id in enumerate(prepared.splits["train"].series_ids):
        values, dates = [], []
        for name, split in prepared.splits.items():
            skip = 0 if name == "train" else context
            start, stop = split.offsets[i] + skip, split.offsets[i + 1]
            values.append(split.values[start:stop])
            if split.dates is not None:
                dates.append(split.dates[start:stop])
        observed.append(
            Observed(
                series_id,
                np.concatenate(values),
                tuple(format_dates(np.concatenate(dates), whole_seconds=True)),
                prepared.zones(series_id),
            )
        )
    return observed


@dataclass(frozen=True)
class Maturity:
    """The ledger's forecasts against today's data: those matured (with their actual values),
    how many still wait for theirs, how many are older than the data's first date, and how many
    are orphaned (their series is no longer in the data: they never mature), with those series."""

    matured: list[Matured]
    waiting: int
    before_data: int
    # How many forecasts of each series no longer in the data, by series id (sorted).
    orphaned_by_series: dict[str, int]
    # Of the waiting, how many of each series are overdue (`mature`: a series far behind the
    # others), by series id (sorted).
    overdue_by_series: dict[str, int] = field(default_factory=dict)


def orphaned_report(by_series: Mapping[str, int], left_out: Collection[str]) -> dict[str, Any]:
    """A monitor report's account of the forecasts whose series today's data lacks: those of
    series gone from it (delisted, dropped from a panel: `orphaned`, `orphaned_series`), which
    never mature, and those of series still in the file that today's panel left out as too
    short (`left_out`, `left_out_series`), which wait for them to come back: neither orphaned
    nor waiting. `by_series`: `Maturity.orphaned_by_series`."""
    gone = [name for name in by_series if name not in left_out]
    kept_out = [name for name in by_series if name in left_out]
    return {
        "orphaned": sum(by_series[name] for name in gone),
        "orphaned_series": gone,
        "left_out": sum(by_series[name] for name in kept_out),
        "left_out_series": kept_out,
    }


def overdue_report(by_series: Mapping[str, int], observed: Sequence[Observed]) -> dict[str, Any]:
    """A monitor report's account of the overdue forecasts (`Maturity.overdue_by_series`): how
    many (`overdue`), and each such series' last date (`overdue_series`)."""
    last_dates = {s.series_id: s.dates[-1] for s in observed}
    return {
        "overdue": sum(by_series.values()),
        "overdue_series": {name: last_dates[name] for name in by_series},
    }


def mature(forecasts: Iterable[LedgerForecast], observed: Sequence[Observed]) -> Maturity:
    """The forecasts whose series has as many values after their origin as they have steps.
    Step k is the k-th value after the origin date, whatever date it carries: the model
    forecasts the series' next values, and its target dates are the calendar's guess of when
    they come, which a holiday, a daylight-saving change or a week dated a day early moves
    (matched by date, such a forecast waited for good). An origin before the data's first date
    (data that keeps only its latest values, a rolling download) cannot be placed, and is not
    scored against the first values that happen to be there.

    A forecast is orphaned when its series is not in today's data at all (a delisted ticker, one
    dropped from a panel): no value can ever mature it. A series still in the data waits,
    however far its last date lags the others': its steps are its next values whenever they
    come, so a target date gone by cannot tell a stopped series from one a day late. An
    orphaned forecast stays in the ledger and is matched again should its series come back;
    one that had matured is orphaned too once its series leaves: no value is left to score it.
    A waiting forecast is also counted overdue where its series' values end before other
    series' do, and the latest of them lies past its last target date by as long again as the
    forecast spans from its origin: the series is late by more than a holiday or an early close
    on its own calendar explains (a day, an afternoon), or has stopped, which only later data
    tells.
    """
    known = {s.series_id: (np.asarray(s.dates, dtype="datetime64[ns]"), s.values) for s in observed}
    ends = [dates[-1] for dates, _ in known.values() if len(dates)]
    latest = max(ends) if ends else None
    matured, waiting, before_data, gone, overdue = [], 0, 0, [], []
    for forecast in forecasts:
        if forecast.series_id not in known:
            gone.append(forecast.series_id)
            continue
        dates, values = known[forecast.series_id]
        origin = np.datetime64(forecast.origin_date)
        if origin.dtype == np.dtype("datetime64[D]"):
            # An origin stored without a time is that whole day, whatever time its value has.
            dates = dates.astype("datetime64[D]")
        start = int(np.searchsorted(dates, origin, "right"))
        steps = len(forecast.target_dates)
        if len(values) and start == 0:
            before_data += 1
        elif start + steps > len(values):
            waiting += 1
            behind = latest is not None and len(dates) > 0 and dates[-1] < latest
            last_target = np.datetime64(forecast.target_dates[-1])
            if behind and last_target + (last_target - origin) <= latest:
                overdue.append(forecast.series_id)
        else:
            matured.append(Matured(forecast, np.asarray(values[start : start + steps], float)))
    counts, late = Counter(gone), Counter(overdue)
    return Maturity(
        matured,
        waiting,
        before_data,
        {name: counts[name] for name in sorted(counts)},
        {name: late[name] for name in sorted(late)},
    )
