"""The monitor's verdict on the champion's live scores: whether it is flagged, on enough
evidence (`monitor.min_matured` origin dates), for being worse than the naive forecast by more
than `monitor.max_ratio_vs_naive`."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig


def judge(cfg: DictConfig, champion_live: dict[str, Any], version: int) -> dict[str, Any]:
    """Whether the champion's live ratio to naive is over the limit, with enough evidence: its
    forecasts of at least `monitor.min_matured` origin dates have matured. The count is of
    dates, not of forecasts: a panel's series err together on a market's day, so a hundred
    tickers matured on one day are one day's evidence, not a hundred's; it is the count of the
    series with the most (`series_origins`), so the tickers of an intraday panel whose last bars
    differ by a minute are one day's too. For one series the counts are the same."""
    limit, needed = float(cfg.monitor.max_ratio_vs_naive), int(cfg.monitor.min_matured)
    ratio = champion_live.get("ratio_vs_naive")
    matured = champion_live["matured"]
    origins = champion_live.get("series_origins", champion_live["origins"])
    if origins < needed:
        return {
            "flagged": False,
            "reason": f"version {version} has {_counted(origins, 'matured origin date')} in the "
            f"window; judging needs monitor.min_matured={needed}",
        }
    over = (
        f"over its last {_counted(origins, 'matured origin date')} "
        f"({_counted(matured, 'forecast')})"
    )
    if ratio is None:
        # The naive forecast was exact (nothing moved) and the champion was not (`live_ratio`):
        # any error of its own is infinitely worse, as the evaluation gate counts it.
        mase = float(champion_live["mase"])
        return {
            "flagged": True,
            "reason": f"version {version}'s live MASE is {mase:.3f} where the naive forecast's is "
            f"0 {over} (above monitor.max_ratio_vs_naive={limit:g})",
        }
    flagged = ratio > limit
    return {
        "flagged": flagged,
        "reason": f"version {version}'s live MASE is {ratio:.3f}x the naive forecast's {over} "
        f"({'above' if flagged else 'within'} monitor.max_ratio_vs_naive={limit:g})",
    }


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
