"""PNG plots a person would want to read: forecasts against actuals, errors by horizon."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from stockcast.files import write_whole


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt, fig, path: str | Path) -> Path:
    """Lay out, write whole and free the figure (pyplot keeps every open figure otherwise)."""
    fig.tight_layout()
    try:  # in the format its name says: the temporary file's suffix names none
        write_whole(path, lambda staged: fig.savefig(staged, format=Path(path).suffix[1:] or "png"))
    finally:
        plt.close(fig)
    return Path(path)


def _finish(plt, fig, ax, path: str | Path, *, dated: bool, **labels: str) -> Path:
    """Shared look: labels, light grid, legend, readable dates; then save and free the figure.
    Only a `dated` x axis has its labels slanted as dates: step numbers stay upright."""
    ax.set(**labels)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    if dated:
        fig.autofmt_xdate()
    return save_figure(plt, fig, path)


# Decimals of an error in a title or legend, or more where that shows fewer significant digits.
SHOWN_DIGITS = 3


def decimals_for(size: float, decimals: int) -> int:
    """`decimals`, or more where a number of `size` would show fewer than `decimals`
    significant digits (at least one) with them; `decimals` for 0 or a number not finite."""
    if not (math.isfinite(size) and size > 0):
        return decimals
    return max(decimals, max(decimals, 1) - math.floor(math.log10(size)) - 1)


def readable(value: float, digits: int = SHOWN_DIGITS) -> str:
    """`value` to `digits` decimals, or as many more as it needs to show `digits` significant
    ones: an MAE of prices near 1e-6 read `0.000` in the titles, as though it were exact."""
    return f"{value:.{decimals_for(abs(value), digits)}f}"


def _axis(x: np.ndarray | None, n: int) -> tuple[np.ndarray, str]:
    return (x, "date") if x is not None else (np.arange(n), "step")


def plot_rolling_forecasts(
    path: str | Path,
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    title: str,
    x: np.ndarray | None = None,
    ylabel: str = "price",
    bands: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Actual values and forecast lines aligned at their target times (NaN where none), with
    shaded prediction bands (label -> (lower, upper), aligned the same way)."""
    plt = pyplot()
    xs, xlabel = _axis(x, len(actual))
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=110)
    _shade(ax, xs, bands or {})
    ax.plot(xs, actual, color="black", linewidth=1.4, label="actual")
    for (label, values), color in zip(
        forecasts.items(), ("tab:blue", "tab:orange", "tab:green"), strict=False
    ):
        ax.plot(xs, values, color=color, linewidth=1.0, alpha=0.9, label=label)
    return _finish(
        plt, fig, ax, path, dated=x is not None, title=title, xlabel=xlabel, ylabel=ylabel
    )


def _shade(ax, xs: np.ndarray, bands: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Widest band first and lightest, so narrower ones read on top of it."""
    ordered = sorted(bands.items(), key=lambda item: -np.nanmean(item[1][1] - item[1][0]))
    for i, (label, (lower, upper)) in enumerate(ordered):
        alpha = 0.15 + 0.15 * i
        ax.fill_between(xs, lower, upper, color="tab:blue", alpha=alpha, linewidth=0, label=label)


def plot_error_by_horizon(
    path: str | Path,
    per_step_error: Mapping[str, Sequence[float]],
    title: str,
    ylabel: str = "MAE (price units)",
) -> Path:
    """Grouped bars of an error per horizon step (`ylabel` says which): model against the
    baselines."""
    plt = pyplot()
    names = list(per_step_error)
    horizon = len(next(iter(per_step_error.values())))
    steps = np.arange(1, horizon + 1)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for i, name in enumerate(names):
        ax.bar(steps + (i - (len(names) - 1) / 2) * width, per_step_error[name], width, label=name)
    ax.set(title=title, xlabel="horizon step", ylabel=ylabel, xticks=steps)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best")
    return save_figure(plt, fig, path)


def plot_forecast(
    path: str | Path,
    history: np.ndarray,
    forecast: np.ndarray,
    title: str,
    history_x: np.ndarray | None = None,
    forecast_x: np.ndarray | None = None,
    actual: np.ndarray | None = None,
    bands: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Recent history, the forecast with its prediction bands (a fan chart) and, when the future
    is known, the actual values and error."""
    plt = pyplot()
    n_hist, horizon = len(history), len(forecast)
    dated = history_x is not None and forecast_x is not None
    if not dated:
        history_x, forecast_x = np.arange(-n_hist + 1, 1), np.arange(1, horizon + 1)
    xlabel = "date" if dated else "step (0 = last known value)"
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    ax.plot(history_x, history, color="black", linewidth=1.4, label="history")
    # Join future lines to the last known value so they read as a continuation.
    joined_x = np.concatenate([history_x[-1:], forecast_x])
    start = history[-1:]
    joined_bands = {
        label: (np.concatenate([start, lower]), np.concatenate([start, upper]))
        for label, (lower, upper) in (bands or {}).items()
    }
    _shade(ax, joined_x, joined_bands)
    futures = [(forecast, "o-", "tab:blue", "forecast")]
    if actual is not None:
        futures.append((actual, "s--", "tab:green", "actual"))
    for values, style, color, label in futures:
        joined = np.concatenate([history[-1:], values])
        ax.plot(joined_x, joined, style, color=color, markersize=4, label=label)
    if actual is not None:
        mae = float(np.mean(np.abs(np.asarray(forecast) - np.asarray(actual))))
        title = f"{title}  (MAE {readable(mae)})"
    ax.axvline(history_x[-1], color="grey", linestyle=":", linewidth=1)
    return _finish(plt, fig, ax, path, dated=dated, title=title, xlabel=xlabel, ylabel="price")


NOTHING_MATURED = "no matured forecasts yet"
# Text of a panel's note: the headline, and the detail under it.
NOTE_SIZE, DETAIL_SIZE = 14, 9
DETAIL_WRAP = 110


def note_in_panel(ax, headline: str, detail: str | None = None) -> None:
    """Say in the panel why it holds no curve, instead of empty axes with a meaningless scale.
    Only the y axis is cleared: an x axis may be shared with other panels."""
    import textwrap

    ax.set_yticks([])
    centred = {"ha": "center", "va": "center", "transform": ax.transAxes}
    ax.text(0.5, 0.55, headline, fontsize=NOTE_SIZE, color="dimgrey", **centred)
    if detail:
        wrapped = textwrap.fill(detail, DETAIL_WRAP)
        ax.text(0.5, 0.3, wrapped, fontsize=DETAIL_SIZE, color="grey", **centred)


def plot_live_errors(
    path: str | Path,
    history: Sequence[Mapping[str, object]],
    champion_changes: Sequence[tuple[str, int]],
    title: str,
    note: str | None = None,
) -> Path:
    """Live MASE of each matured forecast origin (each series in its own units, as the
    monitor's flag reads it) against the naive forecast's from the same origin, with a dotted
    line where the champion alias moved; before anything matured, the figure says so (with
    `note`, the monitor's reason, under it)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    if not history:
        ax.set_title(title)
        ax.set_xticks([])
        note_in_panel(ax, NOTHING_MATURED, note)
        return save_figure(plt, fig, path)
    origins = np.array([str(h["origin"]) for h in history], dtype="datetime64[D]")
    ax.plot(origins, [h["mase"] for h in history], "o-", color="tab:blue", label="champion MASE")
    ax.plot(origins, [h["naive_mase"] for h in history], "s--", color="grey", label="naive MASE")
    for seen_on, version in champion_changes:
        ax.axvline(np.datetime64(seen_on, "D"), color="tab:red", linestyle=":", linewidth=1)
        ax.annotate(
            f"v{version}",
            (np.datetime64(seen_on, "D"), 1.0),
            xycoords=("data", "axes fraction"),
            color="tab:red",
            ha="left",
            va="top",
        )
    return _finish(
        plt, fig, ax, path, dated=True, title=title, xlabel="forecast origin", ylabel="MASE"
    )


NO_RATIOS = "no series to compare with naive"


def no_ratios_detail(series: int) -> str:
    """Why none of `series` has a ratio to draw on a log scale: naive erred 0 (prices that did
    not move), or the model did."""
    return (
        f"none of the {series} series has a finite ratio above 0 of its MASE to naive's: naive "
        "erred 0 on it (its prices did not move), or the model did"
        if series
        else "no series was scored"
    )


BAR_GAP_WIDTH = 1.0  # points of background between adjacent histogram bars


def plot_mase_by_series(path: str | Path, mase_vs_naive: np.ndarray, title: str) -> Path:
    """Histogram of each series' MASE relative to naive (log scale): readable at any number of
    series, where one line per series is not."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    given = np.asarray(mase_vs_naive, dtype=np.float64)
    ratios = given[np.isfinite(given) & (given > 0)]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    if not ratios.size:
        # Empty axes and a 'median nan' legend said nothing of why.
        ax.set(title=title)
        ax.set_xticks([])
        note_in_panel(ax, NO_RATIOS, no_ratios_detail(given.size))
        return save_figure(plt, fig, path)
    edges = np.geomspace(min(ratios.min(), 0.9), max(ratios.max(), 1.1), 41)
    # Edged in the background's colour: bars of adjacent bins (close ratios) read as one wide
    # bar without it.
    ax.hist(
        ratios,
        bins=edges,
        color="tab:blue",
        alpha=0.8,
        edgecolor=fig.get_facecolor(),
        linewidth=BAR_GAP_WIDTH,
        label=f"{ratios.size} series",
    )
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linestyle=":", linewidth=1.2, label="naive")
    median = float(np.median(ratios))
    ax.axvline(median, color="tab:orange", linewidth=1.2, label=f"median {median:.3f}")
    ax.set(title=title, xlabel="model MASE / naive MASE (left of 1: model better)", ylabel="series")
    # Counts of series: ticks at 0.2 of a series said nothing a whole number would not.
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return save_figure(plt, fig, path)
