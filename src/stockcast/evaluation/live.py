"""Live scores: the champion's stored forecasts matched with the values that have since arrived,
scored against the naive forecast made at the same origin, and the verdict on a decaying champion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockcast.data.mase_scales import series_scales
from stockcast.data.prepared import PreparedData
from stockcast.data.split import SplitData
from stockcast.forecasting.metrics import coverage, pooled_errors
from stockcast.registry.ledger import LedgerForecast


@dataclass(frozen=True)
class Observed:
    """One series as the data shows it today: values and their ISO dates."""

    series_id: str
    values: np.ndarray
    dates: tuple[str, ...]


@dataclass(frozen=True)
class Matured:
    """A ledger forecast whose every step has a value in the data, with the actual values."""

    forecast: LedgerForecast
    actual: np.ndarray


def iso_dates(dates: np.ndarray) -> tuple[str, ...]:
    """ISO dates (with the time only for intraday data), the ledger's date format."""
    dates = np.asarray(dates, dtype="datetime64[ns]")
    days = dates.astype("datetime64[D]")
    if (days == dates).all():
        return tuple(np.datetime_as_string(days, unit="D").tolist())
    return tuple(np.datetime_as_string(dates, unit="s").tolist())


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
            Observed(series_id, np.concatenate(values), iso_dates(np.concatenate(dates)))
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
    one that had matured is orphaned too once its series leaves: no value is left to score it."""
    known = {s.series_id: (np.asarray(s.dates, dtype="datetime64[ns]"), s.values) for s in observed}
    matured, waiting, before_data, gone = [], 0, 0, []
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
        else:
            matured.append(Matured(forecast, np.asarray(values[start : start + steps], float)))
    counts = Counter(gone)
    return Maturity(matured, waiting, before_data, {name: counts[name] for name in sorted(counts)})


def live_scores(matured: Sequence[Matured], scales: Mapping[str, float]) -> dict[str, Any]:
    """MAE, MASE, the same for the naive forecasts of the same origins, their ratio and the
    interval coverage per level, pooled over every matured (forecast, step) pair.

    `scales`: each series' MASE denominator (its train one-step naive MAE), so that on a panel
    the MASE and the ratio to naive weigh every series in its own units, as evaluate's do."""
    if not matured:
        return {"matured": 0, "origins": 0}
    model, baseline = _point_and_naive_errors(matured, scales)
    covered = {}
    for level in sorted({lvl for m in matured for lvl in m.forecast.bands}, key=int):
        rows = [m for m in matured if level in m.forecast.bands]
        lower = np.concatenate([m.forecast.bands[level][0] for m in rows])
        upper = np.concatenate([m.forecast.bands[level][1] for m in rows])
        covered[level] = coverage(np.concatenate([m.actual for m in rows]), lower, upper)
    origins = sorted({m.forecast.origin_date for m in matured})
    by_series: dict[str, set[str]] = {}
    for m in matured:
        by_series.setdefault(m.forecast.series_id, set()).add(m.forecast.origin_date)
    return {
        "matured": len(matured),
        "origins": len(origins),
        # The evidence `judge` counts: a panel's series matured from one day's data count once,
        # even where their last bars' times differ (16:00 and 15:59 on an intraday panel).
        "series_origins": max(len(dates) for dates in by_series.values()),
        "first_origin": origins[0],
        "last_origin": origins[-1],
        "mae": model["mae"],
        "mase": model["mase"],
        "naive_mae": baseline["mae"],
        "naive_mase": baseline["mase"],
        "ratio_vs_naive": model["mase"] / baseline["mase"] if baseline["mase"] > 0 else None,
        "coverage": covered,
    }


def last_origins(
    matured: Sequence[Matured], window: int, among: Sequence[Matured] | None = None
) -> list[Matured]:
    """The matured forecasts of each series' last `window` origin dates within the panel's last
    `window` days: where its series share their origins, the panel's last `window` dates; where
    their last bars' times differ, as many days (counted by origin time across the panel, five
    closing times made the window four days). A series whose values stopped coming keeps none
    of its old forecasts there, which would otherwise judge today's champion for months, and a
    young series cuts no other short.

    `among`: those of these forecasts (one version's) on the origins the whole ledger's last
    days give. A champion restored by a rollback has forecasts only from before it was demoted:
    its own last origins were months old and would judge it on them."""
    dates: dict[str, set[str]] = {}
    for m in matured:
        dates.setdefault(m.forecast.series_id, set()).add(m.forecast.origin_date)
    days = sorted({_day(origin) for origins in dates.values() for origin in origins})
    start = days[-window] if len(days) >= window else (days[0] if days else "")
    allowed = {
        series: {origin for origin in sorted(origins)[-window:] if _day(origin) >= start}
        for series, origins in dates.items()
    }
    return [
        m
        for m in (matured if among is None else among)
        if m.forecast.origin_date in allowed.get(m.forecast.series_id, ())
    ]


def first_stored(matured: Sequence[Matured]) -> list[Matured]:
    """One forecast per series and origin: the one stored first, which the day published. A
    rollback stores the restored champion's forecast of the same origin after it; pooled, that
    origin would count twice."""
    first: dict[tuple[str, str], Matured] = {}
    for m in sorted(matured, key=lambda m: m.forecast.stored_seq):
        first.setdefault((m.forecast.series_id, m.forecast.origin_date), m)
    return [m for m in matured if first[(m.forecast.series_id, m.forecast.origin_date)] is m]


def _day(origin: str) -> str:
    """The day of an origin date written YYYY-MM-DD, with or without its time."""
    return origin[:10]


def origin_history(matured: Sequence[Matured], scales: Mapping[str, float]) -> list[dict[str, Any]]:
    """Per origin date and version: the live MAE and MASE and the naive forecast's (the plot
    draws the MASEs: each series in its own units, as the flag reads them)."""
    groups: dict[tuple[str, int], list[Matured]] = {}
    for m in matured:
        groups.setdefault((m.forecast.origin_date, m.forecast.model_version), []).append(m)
    history = []
    for (origin, version), rows in sorted(groups.items()):
        model, naive = _point_and_naive_errors(rows, scales)
        history.append(
            {
                "origin": origin,
                "version": version,
                "mae": model["mae"],
                "naive_mae": naive["mae"],
                "mase": model["mase"],
                "naive_mase": naive["mase"],
            }
        )
    return history


def _point_and_naive_errors(
    matured: Sequence[Matured], scales: Mapping[str, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """The point forecasts' and the same origins' naive forecasts' pooled errors, each
    (forecast, step) pair's MASE over its series' scale."""
    actual = np.concatenate([m.actual for m in matured])
    point = np.concatenate([m.forecast.point for m in matured])
    naive = np.concatenate([np.full(len(m.actual), m.forecast.naive) for m in matured])
    pair_scales = np.concatenate(
        [np.full(len(m.actual), scales[m.forecast.series_id]) for m in matured]
    )
    return pooled_errors(point, actual, pair_scales), pooled_errors(naive, actual, pair_scales)


@dataclass(frozen=True)
class LiveScores:
    """The ledger's matured forecasts scored: over the last `window` origins (each origin's
    first stored forecast, and the champion's own), and per version over all of them."""

    matured: list[Matured]
    waiting: int
    before_data: int
    # `Maturity`'s: how many forecasts of each series no longer in the data.
    orphaned_by_series: dict[str, int]
    overall: dict[str, Any]
    champion: dict[str, Any]
    by_version: dict[str, dict[str, Any]]
    # Every matured origin's scores (`origin_history`): what monitor.png draws.
    history: list[dict[str, Any]]


def score_live(
    forecasts: Iterable[LedgerForecast],
    observed: Sequence[Observed],
    champion_version: int,
    window: int,
    train: SplitData,
) -> LiveScores:
    """`train`: the prepared train split, whose series' one-step naive MAEs scale each series'
    live errors (`live_scores`)."""
    scales = dict(zip(train.series_ids, series_scales(train).tolist(), strict=True))
    maturity = mature(forecasts, observed)
    matured = maturity.matured
    by_version: dict[int, list[Matured]] = {}
    for m in matured:
        by_version.setdefault(m.forecast.model_version, []).append(m)
    return LiveScores(
        matured,
        maturity.waiting,
        maturity.before_data,
        maturity.orphaned_by_series,
        live_scores(last_origins(first_stored(matured), window), scales),
        live_scores(last_origins(matured, window, by_version.get(champion_version, [])), scales),
        {str(v): live_scores(rows, scales) for v, rows in sorted(by_version.items())},
        origin_history(matured, scales),
    )


def live_metrics(report: dict[str, Any]) -> dict[str, float]:
    """A monitor report's live scores (over all versions and the champion's own) as flat
    metric names: `live_mase`, `champion_live_coverage_80`, ..."""
    metrics = {}
    for scope in ("live", "champion_live"):
        for name, value in report[scope].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[f"{scope}_{name}"] = float(value)
        for level, value in report[scope].get("coverage", {}).items():
            metrics[f"{scope}_coverage_{level}"] = float(value)
    return metrics
