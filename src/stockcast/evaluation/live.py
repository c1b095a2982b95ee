"""Live scores: the champion's matured forecasts (`maturity`) scored against the naive forecast
made at the same origin, over the latest origins and origin by origin."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockcast.data.mase_scales import series_scales
from stockcast.data.split import SplitData
from stockcast.evaluation.maturity import Matured, Observed, mature
from stockcast.evaluation.versus_naive import naive_within_rounding, ratio_vs_naive
from stockcast.forecasting.metrics import coverage, pooled_errors
from stockcast.registry.ledger import LedgerForecast


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
        "ratio_vs_naive": live_ratio(model["mase"], baseline["mase"]),
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
    its own last origins were months old and would judge it on them (`score_live` leaves out
    even those within the window: `champion_since`)."""
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
    """Per origin day and version: the live MAE and MASE and the naive forecast's (the plot
    draws the MASEs: each series in its own units, as the flag reads them). By day, as the flag
    counts origins: an intraday panel whose tickers' last bars close at different times has as
    many origin times a day, and drew each ticker's own score as a point of its own, a comb of
    them at the day's midnight, where the day's pooled score belongs."""
    groups: dict[tuple[str, int], list[Matured]] = {}
    for m in matured:
        day = _day(m.forecast.origin_date)
        groups.setdefault((day, m.forecast.model_version), []).append(m)
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


def live_ratio(mase: float, naive_mase: float) -> float | None:
    """The champion's MASE over naive's as the evaluation gate counts it (`ratio_vs_naive`);
    None where it is infinite (naive exact, the champion not), which JSON cannot hold."""
    ratio = ratio_vs_naive(mase, naive_mase)
    return ratio if np.isfinite(ratio) else None


def _point_and_naive_errors(
    matured: Sequence[Matured], scales: Mapping[str, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """The point forecasts' and the same origins' naive forecasts' pooled errors, each
    (forecast, step) pair's MASE over its series' scale."""
    actual = np.concatenate([m.actual for m in matured])
    naive = np.concatenate([np.full(len(m.actual), m.forecast.naive) for m in matured])
    # As evaluate scores it: a fallback's float32 answer of the last price is naive's.
    point = naive_within_rounding(np.concatenate([m.forecast.point for m in matured]), naive)
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
    # `Maturity`'s: how many forecasts of each series no longer in the data, and how many of
    # the waiting ones of each series are overdue.
    orphaned_by_series: dict[str, int]
    overdue_by_series: dict[str, int]
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
    champion_since: str | None = None,
) -> LiveScores:
    """`train`: the prepared train split, whose series' one-step naive MAEs scale each series'
    live errors (`live_scores`). `champion_since`: when the champion's present time as
    champion began (when a rollback restored it, `ledger.champion_since`); its forecasts stored
    before then, made before it was demoted, take no part in its own score, which judges it
    now."""
    scales = dict(zip(train.series_ids, series_scales(train).tolist(), strict=True))
    maturity = mature(forecasts, observed)
    matured = maturity.matured
    by_version: dict[int, list[Matured]] = {}
    for m in matured:
        by_version.setdefault(m.forecast.model_version, []).append(m)
    # By when each was stored, not by its origin: a panel's series whose last bars close at
    # different times are each forecast at their own last bar on the restoration, and an
    # intraday champion's forecast of a morning before its demotion keeps that morning's origin.
    champion_rows = [
        m
        for m in by_version.get(champion_version, [])
        if champion_since is None or m.forecast.stored_at >= champion_since
    ]
    return LiveScores(
        matured,
        maturity.waiting,
        maturity.before_data,
        maturity.orphaned_by_series,
        maturity.overdue_by_series,
        live_scores(last_origins(first_stored(matured), window), scales),
        live_scores(last_origins(matured, window, champion_rows), scales),
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
