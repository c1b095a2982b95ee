"""The replay's figure: the prices the newest day holds with each day's champion forecast, the
live error against naive, and the champion version, day by day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.data.series import UNNAMED
from stockcast.evaluation import plots

# Replay: the earlier forecasts drawn (faded, without bands) beside the latest one.
EARLIER_FORECASTS = 5
# Prices and forecasts are drawn at their times, not their days: a day's half-hours cut to the
# day stood in one vertical stroke, and a forecast within one session in none.
PLOTTED_TIMES = "datetime64[s]"


def _whose(observed: Any) -> str:
    """The drawn series' name as the title's possessive ('AAPL's '), for a panel, where the
    plot draws its first series only; '' for a single unnamed series."""
    name = getattr(observed, "series_id", UNNAMED)
    return "" if name == UNNAMED else f"{name}'s "


def plot_replay_days(
    path: str | Path,
    observed: Any,
    forecasts: Sequence[Any],
    entries: Sequence[Mapping[str, Any]],
    history: int,
) -> Path:
    """Three panels over the simulated days: prices with the latest stored champion forecast and
    its narrowest band (the few before it faded); the live MASE of those forecasts against naive's, or
    a note while none has matured; the champion version."""
    from matplotlib.ticker import MaxNLocator

    plt = plots.pyplot()
    days = np.array([e["as_of"] for e in entries], dtype="datetime64[D]")
    fig, (prices, live, champion) = plt.subplots(
        3, 1, figsize=(11, 9), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 1.4, 1]}
    )
    if observed is not None:
        dates = np.array(observed.dates, dtype=PLOTTED_TIMES)
        before = dates[dates < days[0]]
        shown = dates >= (before[-history] if len(before) >= history else dates[0])
        prices.plot(
            dates[shown], observed.values[shown], color="black", linewidth=1.2, label="price"
        )
    _draw_replay_forecasts(prices, forecasts)
    prices.set(
        title=f"Replay: {_whose(observed)}prices and the champion's forecasts", ylabel="price"
    )
    _draw_live_mase(live, days, entries)
    versions = [np.nan if e["champion_version"] is None else e["champion_version"] for e in entries]
    # Marked day by day: a step line draws nothing of one day, nor of the last day's level.
    champion.step(
        days, versions, where="post", marker=".", color="tab:green", label="champion version"
    )
    registered = [(d, e["registered_version"]) for d, e in zip(days, entries, strict=True)]
    marks = [(d, v) for d, v in registered if v is not None]
    if marks:
        champion.scatter(
            *zip(*marks, strict=True), color="tab:orange", zorder=3, label="registered"
        )
    champion.set(ylabel="version", xlabel="date")
    if not np.isnan(versions).all():  # whole version numbers, with room around them
        champion.set_ylim(np.nanmin(versions) - 0.5, np.nanmax(versions) + 0.5)
        champion.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    for ax in (prices, live, champion):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left")
    fig.autofmt_xdate()
    return plots.save_figure(plt, fig, path)


def _draw_replay_forecasts(ax, forecasts: Sequence[Any]) -> None:
    """The latest forecast bold with its narrowest band, the EARLIER_FORECASTS before it as faded
    lines (older ones dropped): every day's fan overlapping the next one's could not be told
    apart. Each line starts at its origin's price, so it reads as that day's continuation."""
    if not forecasts:
        return
    ordered = sorted(forecasts, key=lambda f: str(f.origin_date))
    *earlier, latest = ordered[-EARLIER_FORECASTS - 1 :]
    for i, forecast in enumerate(earlier):  # oldest first and faintest, the newer drawn over it
        x, y = _from_origin(forecast, forecast.point)
        label = f"{len(earlier)} earlier forecast(s)" if i == len(earlier) - 1 else None
        fade = 0.1 + 0.6 * (i + 1) / len(earlier)
        ax.plot(x, y, color="tab:blue", linewidth=0.9, alpha=fade, label=label)
    x, y = _from_origin(latest, latest.point)
    label = f"latest forecast (from {str(latest.origin_date).replace('T', ' ')})"
    ax.plot(x, y, "o-", color="tab:blue", linewidth=1.6, markersize=3, label=label, zorder=3)
    if latest.bands:  # the narrowest (80% by default): a wider one drawn over it hides it
        level = min(latest.bands, key=float)
        lower, upper = (_from_origin(latest, edge)[1] for edge in latest.bands[level])
        band = f"its {level}% interval"
        ax.fill_between(x, lower, upper, color="tab:blue", alpha=0.2, linewidth=0, label=band)


def _from_origin(forecast: Any, values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The forecast's target dates and `values`, preceded by its origin and the price there."""
    x = np.array([str(forecast.origin_date), *forecast.target_dates], dtype=PLOTTED_TIMES)
    return x, np.array([forecast.naive, *values], dtype=np.float64)


def _draw_live_mase(ax, days: np.ndarray, entries: Sequence[Mapping[str, Any]]) -> None:
    """Live MASE of the matured forecasts, champion against naive, day by day."""
    mase = [e["live"]["mase"] for e in entries]
    if all(value is None for value in mase):
        plots.note_in_panel(
            ax, plots.NOTHING_MATURED, "live MASE appears once a forecast's last target day is seen"
        )
        return
    naive = [e["live"]["naive_mase"] for e in entries]
    ax.plot(days, [np.nan if v is None else v for v in mase], marker=".", label="champion, live")
    ax.plot(days, [np.nan if v is None else v for v in naive], marker=".", label="naive, live")
    ax.set(ylabel="live MASE")
