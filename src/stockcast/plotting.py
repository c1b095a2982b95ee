"""PNG plots a person would want to read: forecasts against actuals, errors by horizon."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, ax, path: str | Path, **labels: str) -> Path:
    """Shared look: labels, light grid, legend, readable dates; then save and free the figure."""
    ax.set(**labels)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


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
    plt = _pyplot()
    xs, xlabel = _axis(x, len(actual))
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=110)
    _shade(ax, xs, bands or {})
    ax.plot(xs, actual, color="black", linewidth=1.4, label="actual")
    for (label, values), color in zip(
        forecasts.items(), ("tab:blue", "tab:orange", "tab:green"), strict=False
    ):
        ax.plot(xs, values, color=color, linewidth=1.0, alpha=0.9, label=label)
    return _finish(plt, fig, ax, path, title=title, xlabel=xlabel, ylabel=ylabel)


def _shade(ax, xs: np.ndarray, bands: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Widest band first and lightest, so narrower ones read on top of it."""
    ordered = sorted(bands.items(), key=lambda item: -np.nanmean(item[1][1] - item[1][0]))
    for i, (label, (lower, upper)) in enumerate(ordered):
        alpha = 0.15 + 0.15 * i
        ax.fill_between(xs, lower, upper, color="tab:blue", alpha=alpha, linewidth=0, label=label)


def plot_error_by_horizon(
    path: str | Path, per_step_mae: Mapping[str, Sequence[float]], title: str
) -> Path:
    """Grouped bars of MAE per horizon step: model against the baselines."""
    plt = _pyplot()
    names = list(per_step_mae)
    horizon = len(next(iter(per_step_mae.values())))
    steps = np.arange(1, horizon + 1)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for i, name in enumerate(names):
        ax.bar(steps + (i - (len(names) - 1) / 2) * width, per_step_mae[name], width, label=name)
    ax.set(title=title, xlabel="horizon step", ylabel="MAE (price units)", xticks=steps)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


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
    plt = _pyplot()
    n_hist, horizon = len(history), len(forecast)
    if history_x is None or forecast_x is None:
        history_x, forecast_x = np.arange(-n_hist + 1, 1), np.arange(1, horizon + 1)
        xlabel = "step (0 = last known value)"
    else:
        xlabel = "date"
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    ax.plot(history_x, history, color="black", linewidth=1.4, label="history")
    # Join future lines to the last known value so they read as a continuation.
    joined_x = np.concatenate([history_x[-1:], forecast_x])
    start = history[-1:]
    _shade(
        ax,
        joined_x,
        {
            label: (np.concatenate([start, lower]), np.concatenate([start, upper]))
            for label, (lower, upper) in (bands or {}).items()
        },
    )
    futures = [(forecast, "o-", "tab:blue", "forecast")]
    if actual is not None:
        futures.append((actual, "s--", "tab:green", "actual"))
    for values, style, color, label in futures:
        joined = np.concatenate([history[-1:], values])
        ax.plot(joined_x, joined, style, color=color, markersize=4, label=label)
    if actual is not None:
        mae = float(np.mean(np.abs(np.asarray(forecast) - np.asarray(actual))))
        title = f"{title}  (MAE {mae:.3f})"
    ax.axvline(history_x[-1], color="grey", linestyle=":", linewidth=1)
    return _finish(plt, fig, ax, path, title=title, xlabel=xlabel, ylabel="price")
