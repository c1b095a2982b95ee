"""A second, longer season beside the data's season, and the auto window that holds it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.config.compose import plain
from stockcast.data.longer_season import (
    UNDATED_MULTIPLES,
    longer_season,
    multiples_to_try,
    panel_longer_season,
)
from stockcast.data.prepared import prepare_data
from stockcast.data.series import Series
from stockcast.data.split import split_lengths


def hours_of_weeks(weeks: int, weekend_swing: float, seed: int) -> np.ndarray:
    """Hourly values swinging daily by 10, by `weekend_swing` on Saturdays and Sundays (demand
    for electricity), with a little noise."""
    hours = np.arange(weeks * 168)
    swing = np.where(hours // 24 % 7 >= 5, weekend_swing, 10.0)
    noise = np.random.default_rng(seed).normal(0, 0.3, len(hours))
    return 100 + swing * np.sin(2 * np.pi * hours / 24) + noise


@pytest.mark.parametrize("weeks", [5, 16])
def test_a_week_beside_the_day_is_found_from_five_weeks(weeks: int) -> None:
    """A multiple is tried where each half of the changes holds two whole cycles of it: a week
    of hours from just over four weeks; at five the test finds it in every seed."""
    for seed in range(5):
        assert longer_season(hours_of_weeks(weeks, 4.0, seed), 24) == 168, seed
        assert longer_season(hours_of_weeks(weeks, 10.0, seed), 24) is None, "every day alike"
        scaled = 1e6 * hours_of_weeks(weeks, 4.0, seed)
        assert longer_season(scaled, 24) == 168, "blind to the unit"


def test_a_single_season_has_no_longer_one() -> None:
    """Its multiples' positions split each of its positions into ones alike: noise."""
    t = np.arange(480)
    for seed in range(20):
        noise = np.random.default_rng(seed).normal(0, 2, 480)
        monthly = 100 + 0.3 * t + 10 * np.sin(2 * np.pi * t / 12) + noise
        assert longer_season(monthly, 12) is None, seed
    assert longer_season(monthly, 1) is None, "no season, no multiple of it"
    exact = 100 + 10 * np.sin(2 * np.pi * np.arange(3000) / 24)
    assert longer_season(exact, 24) is None, "what the season leaves is rounding, not a season"
    assert longer_season(100 + 0.1 * np.arange(3000), 24) is None, "a line's changes are alike"
    assert longer_season(hours_of_weeks(2, 4.0, 0), 24) is None, "two weeks: not searched"
    assert longer_season(hours_of_weeks(4, 4.0, 0), 24) is None, "four weeks: not quite"
    assert longer_season(monthly[:10], 10) is None, "fewer changes than a season"


def test_intraday_walks_whose_opening_bar_moves_more_get_none() -> None:
    """Each bar of the day its own spread: an opening gap three times the other bars' moves
    and a U-shaped day, measured against one spread for all, read as a longer season."""
    bars, days = 13, 120
    volatility = 1 + 0.8 * np.cos(2 * np.pi * np.arange(bars * days) / bars)
    for seed in range(40):
        moves = np.random.default_rng(seed).normal(0, 0.003, bars * days) * volatility
        moves[::bars] *= 3.0
        assert longer_season(100 * np.exp(np.cumsum(moves)), bars) is None, seed


def test_a_weekday_pattern_in_white_noise_is_no_longer_season() -> None:
    """Values of a weekday pattern plus white noise have changes that correlate at lag one: the
    bar stands where 100 such series of eight years found none."""
    pattern = np.array([5, 3, 2, 2, 4, -8, -8.0])
    days = np.arange(2920)
    for seed in range(100):
        noise = np.random.default_rng(seed).normal(0, 3, len(days))
        assert longer_season(100 + pattern[days % 7] + noise, 7) is None, seed


def train_dates(series: Series, split: dict[str, float]) -> np.ndarray:
    """The dates of a series' train split under `split`."""
    assert series.dates is not None
    return series.dates[: split_lengths(len(series), split)["train"]]


def hourly_csv(folder: Path, name: str, values: np.ndarray) -> str:
    """A CSV of `values` an hour apart from 2024-01-01, in `folder`; its path."""
    hours = pd.date_range("2024-01-01", periods=len(values), freq="h")
    path = folder / f"{name}.csv"
    frame = pd.DataFrame({"date": hours.strftime("%Y-%m-%d %H:%M"), "value": values})
    frame.to_csv(path, index=False)
    return str(path)


def test_prepare_lengthens_the_auto_window_for_a_week_in_hourly_data(tmp_path, make_cfg) -> None:
    """Hourly dates give the day (24); the changes give the week: a window of 192 values."""
    path = hourly_csv(tmp_path, "load", hours_of_weeks(16, 4.0, 0))
    columns = [f"data.path={path}", "data.date_column=date", "data.value_column=value"]
    prepared = prepare_data(
        plain(make_cfg("data=csv", *columns, "data.previous_time_window=auto").data)
    )
    assert (prepared.season_length, prepared.meta["longer_season"]) == (24, 168)
    assert prepared.window.previous_time_window == 192
    fixed = prepare_data(plain(make_cfg("data=csv", *columns, "data.previous_time_window=30").data))
    assert fixed.window.previous_time_window == 30 and "longer_season" not in fixed.meta


def test_a_longer_season_the_window_cannot_hold_is_not_recorded(tmp_path, make_cfg) -> None:
    """A panel's short member bounds every window: the week found in the long one does not fit,
    so neither the window nor meta.json (nor the log) holds it."""
    long_path = hourly_csv(tmp_path, "long", hours_of_weeks(16, 4.0, 0))
    short = pd.read_csv(hourly_csv(tmp_path, "short", hours_of_weeks(3, 4.0, 1)))
    panel = pd.concat([pd.read_csv(long_path).assign(ticker="LONG"), short.assign(ticker="SHORT")])
    path = tmp_path / "panel.csv"
    panel.to_csv(path, index=False)
    cfg = make_cfg(
        "data=csv",
        f"data.path={path}",
        "data.date_column=date",
        "data.value_column=value",
        "data.id_column=ticker",
        "data.previous_time_window=auto",
    )
    prepared = prepare_data(plain(cfg.data))
    assert prepared.window.previous_time_window == 96, "four days fit the short train split"
    assert "longer_season" not in prepared.meta


def test_a_week_shaped_event_in_one_stretch_is_no_season() -> None:
    """Five weeks whose weekends swung less (a holiday season) fit the weekly means beyond the
    F test's bar, but in the first half only: its departures do not recur in the second."""
    values = hours_of_weeks(16, 10.0, 0)
    hours = np.arange(len(values))
    event = (hours >= 168) & (hours < 6 * 168) & (hours // 24 % 7 >= 5)
    values[event] = 100 + 4.0 * np.sin(2 * np.pi * hours[event] / 24)
    assert longer_season(values, 24) is None
    assert longer_season(hours_of_weeks(16, 4.0, 0), 24) == 168, "every weekend alike: a week"


def test_hours_that_never_move_are_no_pattern() -> None:
    """A solar panel's nights are zero: the rounding left there must not read as a season."""
    hours = np.arange(120 * 24)
    daylight = np.clip(np.sin(2 * np.pi * (hours % 24 - 6) / 24), 0.0, None)
    noise = np.random.default_rng(0).normal(0, 0.3, len(hours))
    solar = 10 * daylight + np.where(daylight > 0, noise, 0.0)
    assert longer_season(solar, 24) is None


def test_multiples_past_a_week_are_not_tried() -> None:
    """An eleven-day cycle of hours (no multiple of a day up to a week divides it) is no week:
    far longer multiples repeat too few times in a train split to tell a season from a few
    events."""
    hours = np.arange(40 * 264)
    swing = np.where(hours // 24 % 11 >= 9, 4.0, 10.0)
    noise = np.random.default_rng(0).normal(0, 0.3, len(hours))
    assert longer_season(100 + swing * np.sin(2 * np.pi * hours / 24) + noise, 24) is None


def test_a_longer_season_that_adds_nothing_is_not_recorded(tmp_path, make_cfg) -> None:
    """Three days of hours plus one day is the four days auto reads anyway: found, but the log
    and meta.json do not name a season that changed nothing."""
    hours = np.arange(16 * 168)
    swing = np.where(hours // 24 % 3 == 2, 4.0, 10.0)
    noise = np.random.default_rng(0).normal(0, 0.3, len(hours))
    values = 100 + swing * np.sin(2 * np.pi * hours / 24) + noise
    assert longer_season(values, 24) == 72
    path = hourly_csv(tmp_path, "three", values)
    # Undated, so every multiple up to seven is tried (dated hours try their week only).
    columns = [
        f"data.path={path}",
        "data.date_column=null",
        "data.value_column=value",
        "data.season_length=24",
    ]
    prepared = prepare_data(
        plain(make_cfg("data=csv", *columns, "data.previous_time_window=auto").data)
    )
    assert prepared.window.previous_time_window == 96
    assert "longer_season" not in prepared.meta


def test_dated_data_tries_a_week_only_where_it_is_intraday(tmp_path, make_cfg) -> None:
    """A calendar month is no whole number of weeks: daily sales with a weekday pattern and a
    spike at each month's end passed as a season of five weeks; dated data other than intraday
    now tries none, and intraday data its trading week."""
    days = pd.date_range("2011-03-15", periods=2000, freq="D")
    weekday = np.array([5, 3, 2, 2, 4, -8, -8.0])[days.dayofweek]
    noise = np.random.default_rng(0).normal(0, 1, len(days))
    sales = 100 + weekday + 30.0 * days.is_month_end + noise
    path = tmp_path / "sales.csv"
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "value": sales}).to_csv(path, index=False)
    columns = [f"data.path={path}", "data.date_column=date", "data.value_column=value"]
    cfg = make_cfg("data=csv", *columns, "data.previous_time_window=auto")
    prepared = prepare_data(plain(cfg.data))
    assert prepared.season_length == 7 and "longer_season" not in prepared.meta
    assert prepared.window.previous_time_window == 28
    split = {"train": 0.7, "val": 0.15, "test": 0.15}
    daily = Series("sales", sales, days.to_numpy())
    assert multiples_to_try(train_dates(daily, split), 7) == ()
    hours = pd.date_range("2024-01-01", periods=16 * 168, freq="h").to_numpy()
    load = Series("load", hours_of_weeks(16, 4.0, 0), hours)
    assert multiples_to_try(train_dates(load, split), 24) == (7,)
    assert multiples_to_try(train_dates(load, split), 12) == (14,), (
        "a week of a set season of 12 hours"
    )
    assert multiples_to_try(train_dates(load, split), 168) == (), "the week is the season"
    # Currencies trade from Sunday 22:00 to Friday 22:00 UTC: 120 hours a week, 5 days of 24.
    every_hour = pd.date_range("2024-01-07 22:00", periods=20 * 168, freq="h")
    weekday = every_hour.dayofweek
    open_hours = ~((weekday == 5) | ((weekday == 4) & (every_hour.hour >= 22)))
    open_hours &= ~((weekday == 6) & (every_hour.hour < 22))
    fx = every_hour[open_hours].to_numpy()
    rates = 1 + np.random.default_rng(2).normal(0, 1e-3, len(fx)).cumsum()
    assert multiples_to_try(train_dates(Series("fx", rates, fx), split), 24) == (5,)
    # Sessions of 7 bars on business days, some of them holidays: 5 sessions a whole week.
    business = pd.bdate_range("2024-01-01", periods=120).delete([10, 45, 80])
    bars = (business.to_numpy()[:, None] + np.arange(7) * np.timedelta64(1, "h")).ravel()
    bars = bars + np.timedelta64(14, "h")
    closes = 100 + np.random.default_rng(1).normal(0, 1, len(bars)).cumsum()
    assert multiples_to_try(train_dates(Series("bars", closes, bars), split), 7) == (5,)
    assert multiples_to_try(None, 7) == UNDATED_MULTIPLES


def test_a_panel_takes_the_longer_season_half_its_series_show_whatever_their_names() -> None:
    """Every series reads the panel's one window: the week is the panel's where at least half
    its series show it, not where the series that sorts first (or the longest) does."""
    split = {"train": 0.7, "val": 0.15, "test": 0.15}
    hours = pd.date_range("2024-01-01", periods=12 * 168, freq="h").to_numpy()

    def panel(*shapes: tuple[str, float]) -> list[Series]:
        return [
            Series(name, hours_of_weeks(12, swing, seed), hours)
            for seed, (name, swing) in enumerate(shapes)
        ]

    two_of_three = panel(("A", 4.0), ("B", 10.0), ("C", 4.0))
    assert panel_longer_season(two_of_three, 24, split) == 168
    renamed = panel(("A", 10.0), ("C", 4.0), ("Z", 4.0))  # in id order, as a panel is read
    assert panel_longer_season(renamed, 24, split) == 168, "a plain series named first"
    one_of_three = panel(("A", 4.0), ("B", 10.0), ("C", 10.0))
    assert panel_longer_season(one_of_three, 24, split) is None


def test_a_panel_series_too_short_to_judge_has_no_say_and_ties_go_to_the_longer() -> None:
    """Five weeks of hours hold a window of 192 but not the test's two weeks a half: such
    series neither show the week nor count against it. Where two longer seasons are equally
    common, the longer one wins, whatever the series are called."""
    split = {"train": 0.7, "val": 0.15, "test": 0.15}

    def hourly(weeks: int, seed: int) -> Series:
        hours = pd.date_range("2024-01-01", periods=weeks * 168, freq="h").to_numpy()
        return Series(f"s{seed}", hours_of_weeks(weeks, 4.0, seed), hours)

    assert panel_longer_season([hourly(12, 0), hourly(5, 1), hourly(5, 2)], 24, split) == 168

    def cycles(name: str, every: int, seed: int) -> Series:
        """Undated, a season of 12 whose every `every`-th cycle swings less."""
        t = np.arange(1200)
        swing = np.where(t // 12 % every == every - 1, 4.0, 10.0)
        noise = np.random.default_rng(seed).normal(0, 0.3, len(t))
        return Series(name, 100 + swing * np.sin(2 * np.pi * t / 12) + noise)

    assert panel_longer_season([cycles("A", 5, 0), cycles("B", 7, 1)], 12, split) == 84
    assert panel_longer_season([cycles("A", 7, 0), cycles("B", 5, 1)], 12, split) == 84
