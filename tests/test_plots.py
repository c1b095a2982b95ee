"""Plots a person can read on any day: before a forecast matures the figure says so instead of
drawing empty axes, and the replay's latest forecast fan stands out from the earlier ones."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stockcast.evaluation import plots as plotting
from stockcast.evaluation.plots import NOTHING_MATURED
from stockcast.evaluation.replay_figure import EARLIER_FORECASTS, plot_replay_days
from stockcast.registry.ledger import LedgerForecast

DAYS = pd.bdate_range("2026-06-01", periods=12)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plotting functions save (written to disk as usual)."""
    figures: list[Any] = []
    save = plotting.save_figure

    def keep(plt, fig, path):
        figures.append(fig)
        return save(plt, fig, path)

    monkeypatch.setattr(plotting, "save_figure", keep)
    return figures


def texts(ax: Any) -> list[str]:
    return [text.get_text() for text in ax.texts]


def forecast(origin: int, levels: tuple[str, ...] = ("80",)) -> LedgerForecast:
    targets = tuple(str(day.date()) for day in DAYS[origin + 1 : origin + 3])
    level = 100.0 + origin
    half_width = {name: (float(name) - 70) / 10 for name in levels}  # 80: 1, 90: 2, 95: 2.5
    bands = {
        name: ((level - width, level - width), (level + width, level + width))
        for name, width in half_width.items()
    }
    return LedgerForecast(
        "m", 1, "series", str(DAYS[origin].date()), targets, (level, level), level, bands
    )


def entry(day: int, matured: bool) -> dict[str, Any]:
    live = {"mase": 0.9, "naive_mase": 1.0} if matured else {"mase": None, "naive_mase": None}
    version = 1
    return {
        "as_of": str(DAYS[day].date()),
        "live": live,
        "champion_version": version,
        "registered_version": version if day == 0 else None,
    }


def replay(tmp_path: Path, forecasts: list[LedgerForecast], entries: list[dict]) -> None:
    observed = SimpleNamespace(
        dates=DAYS.to_numpy("datetime64[ns]"), values=np.linspace(100, 112, len(DAYS))
    )
    plot_replay_days(tmp_path / "replay.png", observed, forecasts, entries, history=5)
    assert (tmp_path / "replay.png").stat().st_size > 0


def test_the_monitor_plot_says_nothing_matured_yet_and_why(tmp_path: Path, drawn) -> None:
    why = "version 1 has 0 matured origin dates in the window; judging needs monitor.min_matured=5"
    plotting.plot_live_errors(tmp_path / "monitor.png", [], [], "live error", note=why)
    (ax,) = drawn[0].axes
    assert texts(ax)[0] == NOTHING_MATURED and why.split(";")[0] in texts(ax)[1]
    assert ax.get_title() == "live error" and not len(ax.get_yticks())


def test_the_replay_of_one_day_says_nothing_matured_yet(tmp_path: Path, drawn) -> None:
    replay(tmp_path, [forecast(5)], [entry(5, matured=False)])
    prices, live, _ = drawn[0].axes
    assert texts(live)[0] == NOTHING_MATURED and not live.lines
    assert "latest forecast (from 2026-06-08)" in prices.get_legend_handles_labels()[1]


def test_the_replay_of_one_day_draws_its_champion(tmp_path: Path, drawn) -> None:
    """A step line of one day is no line at all: the panel showed only its legend."""
    replay(tmp_path, [forecast(5)], [entry(5, matured=False)])
    _, _, champion = drawn[0].axes
    (line,) = champion.lines
    assert line.get_label() == "champion version" and list(line.get_ydata()) == [1]
    assert line.get_marker() not in (None, "", "None", " "), "one day is drawn as a point"


def test_the_latest_fan_stands_out_and_older_ones_fade_or_go(tmp_path: Path, drawn) -> None:
    replay(tmp_path, [forecast(day) for day in range(9)], [entry(d, d > 2) for d in range(9)])
    prices, live, _ = drawn[0].axes
    assert not texts(live) and len(live.lines) == 2
    forecast_lines = prices.lines[1:]  # the price first
    latest, earlier = forecast_lines[-1], forecast_lines[:-1]
    assert latest.get_label() == "latest forecast (from 2026-06-11)"
    assert len(earlier) == EARLIER_FORECASTS, "the ones before those are dropped"
    assert all(line.get_alpha() < 0.8 for line in earlier)
    by_origin = sorted(earlier, key=lambda line: line.get_xdata()[0])
    fades = [line.get_alpha() for line in by_origin]
    assert fades == sorted(fades) and len(set(fades)) == len(fades), "older is fainter"
    assert latest.get_linewidth() > max(line.get_linewidth() for line in earlier)
    assert len(prices.collections) == 1, "one band: the latest forecast's"
    # Each forecast starts at its origin's price, so it reads as that day's continuation.
    assert latest.get_xdata()[0] == np.datetime64("2026-06-11")


def test_a_panels_error_by_step_is_in_each_series_units(tmp_path: Path, drawn) -> None:
    """A panel's bars were MAE pooled in prices: a ticker at 5,000 set them, one at 5 was lost."""
    from stockcast.evaluation.report_plots import PANEL_MASE, error_by_horizon_plot

    metrics = {
        name: {"per_step": {"mae": [40.0 + i, 50.0 + i], "mase": [0.8 + i, 0.9 + i]}}
        for i, name in enumerate(("model", "naive"))
    }
    error_by_horizon_plot(tmp_path, metrics, series=3, origins=7)
    error_by_horizon_plot(tmp_path, metrics, series=1, origins=7)
    (panel,), (single,) = drawn[0].axes, drawn[1].axes
    assert (panel.get_ylabel(), panel.get_title()) == (
        PANEL_MASE,
        "Test MASE by horizon step (7 origins)",
    )
    assert [bar.get_height() for bar in panel.patches] == [0.8, 0.9, 1.8, 1.9]
    assert (single.get_ylabel(), single.get_title()) == (
        "MAE (price units)",
        "Test MAE by horizon step (7 origins)",
    )
    assert [bar.get_height() for bar in single.patches] == [40.0, 50.0, 41.0, 51.0]


def test_a_histogram_without_a_finite_ratio_says_why(tmp_path: Path, drawn) -> None:
    """Every series' ratio infinite or undefined (naive exact on prices that did not move) drew
    empty axes with a 'median nan' legend."""
    plotting.plot_mase_by_series(tmp_path / "mase.png", np.array([np.inf, np.nan]), "test")
    (ax,) = drawn[0].axes
    headline, detail = texts(ax)
    assert (headline, " ".join(detail.split())) == (
        plotting.NO_RATIOS,
        "none of the 2 series has a finite ratio above 0 of its MASE to naive's: naive erred 0 "
        "on it (its prices did not move), or the model did",
    )
    assert ax.get_title() == "test" and ax.get_legend() is None
    plotting.plot_mase_by_series(tmp_path / "mase.png", np.array([0.8, 1.2]), "test")
    assert [t.get_text() for t in drawn[1].axes[0].get_legend().get_texts()] == [
        "2 series",
        "naive",
        "median 1.000",
    ]


def test_each_series_bar_of_the_histogram_has_a_visible_edge(tmp_path: Path, drawn) -> None:
    """Close ratios fill adjacent bins: their bars had no edge and read as one wide bar."""
    from matplotlib.colors import to_rgba

    plotting.plot_mase_by_series(tmp_path / "mase.png", np.array([0.95, 0.955, 0.96]), "test")
    bars = [bar for bar in drawn[0].axes[0].patches if bar.get_height() > 0]
    assert len(bars) == 3
    assert all(
        np.isclose(left.get_x() + left.get_width(), right.get_x()) for left, right in pairwise(bars)
    )
    for bar in bars:
        edge, face = bar.get_edgecolor(), bar.get_facecolor()
        assert bar.get_linewidth() > 0 and edge[3] > 0 and edge != face
        assert edge[:3] == to_rgba(drawn[0].get_facecolor())[:3]


def test_the_histogram_counts_series_in_whole_numbers(tmp_path: Path, drawn) -> None:
    """A few series (at most one a bin) put ticks at 0.2, 0.4 ... of a series on its count axis."""
    plotting.plot_mase_by_series(tmp_path / "mase.png", np.array([0.8, 0.95, 1.2]), "test")
    (ax,) = drawn[0].axes
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def test_the_replay_of_a_panel_names_the_series_it_draws(tmp_path: Path, drawn) -> None:
    """The replay draws a panel's first series only: its title said 'prices' without whose."""
    observed = SimpleNamespace(
        dates=DAYS.to_numpy("datetime64[ns]"),
        values=np.linspace(100, 112, len(DAYS)),
        series_id="AAPL",
    )
    plot_replay_days(tmp_path / "replay.png", observed, [], [entry(5, False)], 5)
    assert drawn[0].axes[0].get_title() == "Replay: AAPL's prices and the champion's forecasts"
    replay(tmp_path, [forecast(5)], [entry(5, matured=False)])
    assert drawn[1].axes[0].get_title() == "Replay: prices and the champion's forecasts"


def test_the_replay_draws_the_narrowest_band_of_any_levels(tmp_path: Path, drawn) -> None:
    """model.interval_levels=[90, 95]: the 90% band, not none for want of an 80% one."""
    replay(tmp_path, [forecast(5, levels=("95", "90"))], [entry(5, matured=False)])
    prices, _, _ = drawn[0].axes
    assert "its 90% interval" in prices.get_legend_handles_labels()[1]
    (band,) = prices.collections
    edges = band.get_paths()[0].vertices[:, 1]
    assert (edges.min(), edges.max()) == (103.0, 107.0), "the 90% band's edges"


def test_the_replay_of_intraday_data_draws_prices_and_forecasts_at_their_times(
    tmp_path: Path, drawn
) -> None:
    """Cut to their days, a day's half-hours stood in one vertical stroke and a forecast of the
    next session's first bars collapsed onto one day."""
    bars = pd.DatetimeIndex(
        [f"2024-03-{day} {hour}" for day in (11, 12) for hour in ("13:30", "14:00", "19:30")]
    )
    observed = SimpleNamespace(dates=bars.to_numpy("datetime64[ns]"), values=np.arange(6.0) + 100)
    targets = ("2024-03-13T13:30:00", "2024-03-13T14:00:00")
    latest = LedgerForecast(
        "m", 1, "series", "2024-03-12T19:30:00", targets, (105.0, 105.0), 105.0, {}
    )
    entries = [dict(entry(0, False), as_of="2024-03-12")]
    plot_replay_days(tmp_path / "replay.png", observed, [latest], entries, history=5)
    prices = drawn[0].axes[0]
    price_line, forecast_line = prices.lines
    assert len(set(price_line.get_xdata())) == len(bars), "each bar at its own time"
    assert list(forecast_line.get_xdata()) == [
        np.datetime64("2024-03-12T19:30:00"),
        *(np.datetime64(target) for target in targets),
    ]
    assert forecast_line.get_label() == "latest forecast (from 2024-03-12 19:30:00)"


def test_step_numbers_stay_upright_and_only_dates_are_slanted(tmp_path: Path, drawn) -> None:
    """Data without dates is drawn against step numbers, whose labels were slanted as dates."""
    history, future = np.linspace(100.0, 110.0, len(DAYS)), np.array([111.0, 112.0])
    plotting.plot_forecast(tmp_path / "steps.png", history, future, "undated")
    plotting.plot_rolling_forecasts(tmp_path / "rolling.png", history, {"m": history}, "undated")
    dates = DAYS.to_numpy("datetime64[ns]")
    plotting.plot_forecast(
        tmp_path / "dates.png", history[:-2], future, "dated", dates[:-2], dates[-2:]
    )
    slants = [{label.get_rotation() for label in fig.axes[0].get_xticklabels()} for fig in drawn]
    assert slants[:2] == [{0.0}, {0.0}]
    assert slants[2] != {0.0}
