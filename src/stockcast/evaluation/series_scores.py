"""Per-series scores of a pooled evaluation: with hundreds of tickers the pooled MASE hides which
series a global model serves well and which it fails.

Each series is scaled by its own train split's one-step naive MAE (the usual per-series MASE),
so series with different price levels weigh the same in the mean and median.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stockcast.forecasting.intervals import Bands
from stockcast.forecasting.metrics import inside_band

# A ratio to naive this close to 1 is the naive forecast itself, carried through float32 (a series
# that fell back to the last price scores 0.999999 or 1.0000002), not a model beating it.
SAME_AS_NAIVE_RTOL = 1e-5


def per_series_scores(
    series_ids: tuple[str, ...],
    window_series: np.ndarray,
    scales: np.ndarray,
    forecasts: dict[str, np.ndarray],
    actual: np.ndarray,
    bands: Bands | None = None,
) -> dict[str, Any]:
    """`series`: one entry per series with windows (its MASE scale, MASE of each forecaster, model
    MASE / naive MASE, interval coverage per level); `aggregate`: mean and median MASE per
    forecaster, the share of series where the model beats naive, mean coverage per level."""
    counts = np.bincount(window_series, minlength=len(series_ids))
    present = np.flatnonzero(counts)

    def mean_by_series(values: np.ndarray) -> np.ndarray:
        return (
            np.bincount(window_series, weights=values, minlength=len(series_ids))[present]
            / (counts[present])
        )

    mase = {
        name: mean_by_series(np.abs(f - actual).mean(axis=1)) / scales[present]
        for name, f in forecasts.items()
    }
    ratio = mase["model"] / np.where(mase["naive"] > 0, mase["naive"], np.nan)
    coverage = {
        level: mean_by_series(inside_band(actual, lower, upper).mean(axis=1))
        for level, (lower, upper) in (bands or {}).items()
    }
    rows = []
    for position, index in enumerate(present):
        row: dict[str, Any] = {"id": series_ids[index], "windows": int(counts[index])}
        # The denominator of this series' MASEs (its train one-step naive MAE; `series_scales`
        # for a series flat in train): on a panel each window's errors are divided by their own
        # series', not by the report's pooled mase_scale.
        row["mase_scale"] = float(scales[index])
        row |= {f"{name}_mase": float(values[position]) for name, values in mase.items()}
        row["mase_vs_naive"] = float(ratio[position])
        row |= {f"coverage_{level}": float(v[position]) for level, v in coverage.items()}
        rows.append(row)
    finite = ratio[np.isfinite(ratio)]
    aggregate: dict[str, Any] = {
        "series": len(present),
        "mean_mase": {name: float(values.mean()) for name, values in mase.items()},
        "median_mase": {name: float(np.median(values)) for name, values in mase.items()},
        "share_beating_naive": (
            float((finite < 1.0 - SAME_AS_NAIVE_RTOL).mean()) if finite.size else None
        ),
        "median_mase_vs_naive": float(np.median(finite)) if finite.size else None,
    }
    if coverage:
        aggregate["mean_coverage"] = {level: float(v.mean()) for level, v in coverage.items()}
    return {"aggregate": aggregate, "series": rows}


def best_and_worst(rows: list[dict[str, Any]], count: int) -> list[int]:
    """Positions in `rows` of the `count` series with the lowest and the `count` with the highest
    MASE relative to naive (all of them when there are few; none for a count of 0)."""
    if count <= 0:
        return []
    ratios = np.array([row["mase_vs_naive"] for row in rows], dtype=float)
    # A series whose ratio is undefined (naive exact over its test windows) is neither best nor
    # worst: it is drawn only where too few others are left to draw.
    ranked = np.flatnonzero(np.isfinite(ratios))
    ranked = ranked[np.argsort(ratios[ranked], kind="stable")]
    if len(ranked) <= 2 * count:
        undefined = np.flatnonzero(~np.isfinite(ratios))
        return [*ranked.tolist(), *undefined[: 2 * count - len(ranked)].tolist()]
    return [*ranked[:count].tolist(), *ranked[-count:].tolist()]
