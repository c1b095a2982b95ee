"""The data's season and the window chosen from it: from the config, the dates or the values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockcast.config.compose import plain
from stockcast.data import seasonality
from stockcast.data.auto_window import auto_window, window_sentence
from stockcast.data.prepared import prepare_data
from stockcast.data.rhythm import other_rhythm
from stockcast.data.seasonality import (
    infer_season_length,
    lag_products,
    season_from_dates,
    season_from_values,
)
from stockcast.data.series import Series
from stockcast.errors import ConfigError, DataError
from tests.conftest import FAST_OVERRIDES

# Train, validation and test fractions (data.split).
SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2}


def _session(
    days: pd.DatetimeIndex, opens: float, bars: int, freq: str, missing: float = 0.0
) -> pd.DatetimeIndex:
    """`bars` bars of `freq` from `opens` hours (UTC) on each day, a share `missing` left out."""
    steps = pd.to_timedelta(freq) * np.arange(bars)
    times = pd.DatetimeIndex(
        [day + pd.Timedelta(hours=opens) + step for day in days for step in steps]
    )
    return times[np.random.default_rng(2).random(len(times)) >= missing]


def on_weekdays(days: list[int]) -> pd.DatetimeIndex:
    """Eighteen weeks of business days kept on `days` only (Monday 0)."""
    business = pd.bdate_range("2024-01-01", periods=90)
    return business[business.dayofweek.isin(days)]


def _futures_hours() -> pd.DatetimeIndex:
    hours = pd.date_range("2024-01-07 22:00", "2024-03-01 20:00", freq="h")
    day, hour = hours.dayofweek, hours.hour
    weekend = ((day == 4) & (hour > 21)) | (day == 5) | ((day == 6) & (hour < 22))
    return hours[(hour != 21) & ~weekend]


@pytest.mark.parametrize(
    ("dates", "season"),
    [
        (pd.date_range("2000-01-01", periods=60, freq="MS"), 12),
        (pd.date_range("2000-01-01", periods=60, freq="ME"), 12),
        (pd.date_range("2000-01-01", periods=40, freq="QS"), 4),
        (pd.bdate_range("2024-01-01", periods=60), 5),
        # An exchange open Sunday to Thursday trades five days a week too.
        (pd.bdate_range("2024-01-01", periods=60, freq="C", weekmask="Sun Mon Tue Wed Thu"), 5),
        # One Saturday session in a year of business days does not make a seven-day week.
        (pd.bdate_range("2024-01-01", periods=260).append(pd.DatetimeIndex(["2024-03-09"])), 5),
        # A month of closes without Christmas and New Year's Day, both Mondays: still five days.
        (
            pd.bdate_range("2023-12-12", "2024-01-12").drop(
                pd.to_datetime(["2023-12-25", "2024-01-01"])
            ),
            5,
        ),
        # Every day with a fifth of them missing at random (Friday held 4 of 9 here).
        (
            pd.date_range("2024-01-01", periods=60, freq="D")[
                np.random.default_rng(13).random(60) < 0.8
            ],
            7,
        ),
        # Days that trade on some weekdays only: a week of three values, and of two.
        (on_weekdays([0, 2, 4]), 3),
        (on_weekdays([1, 3]), 2),
        (on_weekdays([1, 3])[1:-1], 2),  # from a Thursday to a Tuesday: more 5-day gaps than 2
        # Three years of Friday closes, then business days: mostly daily, if not from the start.
        (
            pd.date_range("2010-01-01", periods=150, freq="W-FRI").append(
                pd.bdate_range("2012-11-19", periods=300)
            ),
            5,
        ),
        # Days that do not follow one another on a week: every fourth day, half the business
        # days at random, dates an average of three days apart.
        (pd.date_range("2024-01-01", periods=480, freq="D")[1::4], 1),
        (
            pd.bdate_range("2018-01-01", "2023-12-31")[np.random.default_rng(3).random(1565) < 0.5],
            1,
        ),
        (
            pd.Timestamp("2020-01-01")
            + pd.to_timedelta(np.cumsum(np.random.default_rng(0).geometric(1 / 3, 500)), "D"),
            1,
        ),
        # A few business days say little: no weekend value, so Monday to Friday.
        (pd.bdate_range("2024-01-01", periods=8), 5),
        (pd.date_range("2024-01-01", periods=8, freq="D"), 7),
        (pd.date_range("2024-01-01", periods=60, freq="D"), 7),
        (pd.date_range("2024-01-01", periods=60, freq="W"), 52),
        (pd.date_range("1900-01-01", periods=60, freq="YS"), 1),
        # Closer than daily: the values a day holds (a first or last day cut short aside).
        (pd.date_range("2024-01-01 05:00", periods=24 * 9, freq="h"), 24),
        (pd.date_range("2024-01-01", periods=48 * 5, freq="30min"), 48),
        (pd.date_range("2024-01-01", periods=30, freq="12h"), 2),
        # A missing hour here and there does not make hourly data a session.
        (
            pd.date_range("2024-01-01", periods=24 * 20, freq="h")[
                np.random.default_rng(0).random(24 * 20) > 0.05
            ],
            24,
        ),
        # Five-minute bars of a US session with bars missing here and there, two whole sessions,
        # and Tokyo's half-hours around its lunch break (00:00-02:30 and 03:30-06:00 UTC).
        (_session(pd.bdate_range("2024-01-01", periods=20), 14.5, 78, "5min", missing=0.02), 78),
        (_session(pd.bdate_range("2024-01-02", periods=2), 14.5, 13, "30min"), 13),
        (
            _session(pd.bdate_range("2024-01-01", periods=20), 0, 6, "30min").append(
                _session(pd.bdate_range("2024-01-01", periods=20), 3.5, 6, "30min")
            ),
            12,
        ),
        # Around the clock but for a daily halt: futures' hours (Sunday 22:00 to Friday 21:00
        # UTC, halted 21:00-22:00), and 24/7 data down for maintenance one hour a day.
        (_futures_hours(), 23),
        (
            pd.date_range("2024-01-01", periods=24 * 7 * 8, freq="h")[
                pd.date_range("2024-01-01", periods=24 * 7 * 8, freq="h").hour != 3
            ],
            23,
        ),
        # Too little to tell (one part of a day), and ticks at irregular times: no season.
        (pd.date_range("2024-01-01 05:00", periods=19, freq="h"), 1),
        (
            pd.Timestamp("2024-01-01")
            + pd.to_timedelta(np.random.default_rng(1).uniform(0, 20 * 86_400, 3_000), unit="s"),
            1,
        ),
        # The half-hours of a 09:30-16:00 session on business days, in UTC.
        (
            pd.DatetimeIndex(
                [
                    day + pd.Timedelta(hours=14, minutes=30 * k)
                    for day in pd.bdate_range("2024-01-01", periods=20)
                    for k in range(13)
                ]
            ),
            13,
        ),
    ],
)
def test_the_dates_spacing_gives_the_season(dates: pd.DatetimeIndex, season: int) -> None:
    times = dates.sort_values().to_numpy("datetime64[ns]")
    assert season_from_dates(times) == season
    fitted = {"season_from": "dates", "season_length": season}
    # A model judged by its season alone (saved before its data's rhythm was recorded); a
    # season of 1 holds a model to no rhythm at all.
    if season > 1:
        assert other_rhythm(fitted, times) is None, "a model takes the dates its season came from"


def test_undated_values_keep_a_season_only_where_their_changes_repeat() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(240)
    seasonal = 100 + 0.1 * t + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 240)
    assert season_from_values(seasonal) == 12
    for seed in range(5):
        walk = 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, 500)))
        assert season_from_values(walk) == 1, f"random walk {seed} has no season"


def test_the_lag_products_are_each_lags_dot_product() -> None:
    changes = np.random.default_rng(0).normal(0, 1, 257)
    direct = [changes[lag:] @ changes[:-lag] for lag in range(1, 257)]
    np.testing.assert_allclose(lag_products(changes, 256), direct, rtol=0, atol=1e-10)
    assert lag_products(changes, 3).shape == (3,)


def test_a_long_undated_series_finds_its_season_without_a_product_per_lag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dot product per lag over a third of the lags grew with the square of the series: 400,000
    undated values took 17 s, a million over a minute, in every prepare. The FFT gives every lag
    at once; a lag's own product is taken only where the FFT's rounding could turn a decision
    (a lag near 0 up to the first negative one, or near the largest)."""
    products: list[int] = []
    own_product = seasonality._dot
    monkeypatch.setattr(
        seasonality, "_dot", lambda changes, lag: products.append(lag) or own_product(changes, lag)
    )
    rng = np.random.default_rng(0)
    walk = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 400_000)))
    assert season_from_values(walk) == 1
    daily = 100 + 5 * np.sin(2 * np.pi * np.arange(400_000) / 24)
    assert season_from_values(daily) == 24
    assert len(products) <= 2, products
    # Every odd lag correlates exactly 0: each is judged by its own dot product only up to the
    # first negative lag, not all 130,000 of them.
    products.clear()
    even = np.array([0.0, 1, 2, 3, 3, 2, 1, 0, -1, -2, -3, -3, -2, -1])
    changes = np.tile(np.ravel(np.column_stack([even, np.roll(even, -4)])), 14_000)
    assert season_from_values(np.concatenate([[100.0], 100.0 + np.cumsum(changes)])) == 28
    assert len(products) <= 10, products


def test_a_short_random_walk_gets_no_season_by_chance() -> None:
    """A few dozen changes correlate by chance near the fixed 0.3 bar at one of the lags
    searched: it gave one 60-value walk in ten a season. The bar now grows on short splits,
    while a clear season of that length is still found."""
    from stockcast.data.seasonality import MIN_SEASONAL_AUTOCORRELATION, seasonal_bar

    assert seasonal_bar(59, 19) == pytest.approx(0.392, abs=1e-3)
    assert seasonal_bar(299, 99) == MIN_SEASONAL_AUTOCORRELATION
    for length in (40, 60):
        found = [
            season_from_values(
                100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, length)))
            )
            for seed in range(300)
        ]
        assert sum(season > 1 for season in found) <= 1, f"{length} values"
    t = np.arange(60)
    clear = 100 + 5 * np.sin(2 * np.pi * t / 4) + np.random.default_rng(0).normal(0, 0.5, 60)
    assert season_from_values(clear) == 4


@pytest.mark.parametrize(("season", "length"), [(30, 150), (48, 240), (60, 300), (60, 600)])
def test_a_long_season_is_found_at_its_own_length_not_a_neighbour(season: int, length: int) -> None:
    """Each lag's correlation sums fewer pairs the longer the lag, so a clean 30-value season
    over a 105-value train split peaked at 29; the search now settles on the neighbour whose
    positions repeat exactly."""
    t = np.arange(length)
    train = (100 + 10 * np.sin(2 * np.pi * t / season))[: round(0.7 * length)]
    assert season_from_values(train) == season


def test_a_noisy_season_is_found_at_its_length_far_more_often() -> None:
    found = []
    for seed in range(50):
        t = np.arange(672)
        noise = np.random.default_rng(seed).normal(0, 0.3, 672)
        found.append(season_from_values(100 + 0.1 * t + 5 * np.sin(2 * np.pi * t / 48) + noise))
    # Before: 20 of these 50 at 48, the rest from 45 to 51 or a multiple.
    assert sum(season == 48 for season in found) >= 45


def test_the_config_wins_then_the_dates_then_the_values() -> None:
    dates = pd.date_range("2000-01-01", periods=48, freq="MS").to_numpy("datetime64[ns]")
    dated = Series("a", np.linspace(1, 2, 48), dates)
    assert infer_season_length([dated], 4, SPLIT) == (4, "data.season_length")
    assert infer_season_length([dated], None, SPLIT) == (12, "dates")
    assert infer_season_length([Series("a", np.linspace(1, 2, 48))], None, SPLIT) == (
        1,
        "autocorrelation",
    )


def test_the_season_is_read_from_the_train_split_only() -> None:
    """A season that shows only in the validation or test split's values is no season: the
    season shapes the model before it is fitted, and those splits judge it. Where the train
    split repeats, the season is found as before."""
    rng = np.random.default_rng(1)
    t = np.arange(300)
    walk = 100 + np.cumsum(rng.normal(0, 1, 300))
    for later in (t >= 180, t >= 240):  # the validation split onwards, the test split
        seasonal_later = walk + np.where(later, 20 * np.sin(2 * np.pi * t / 12), 0.0)
        assert season_from_values(seasonal_later) == 12, "the whole series would say 12"
        found = infer_season_length([Series("a", seasonal_later)], None, SPLIT)
        assert found == (1, "autocorrelation")
    seasonal_train = walk + np.where(t < 180, 20 * np.sin(2 * np.pi * t / 12), 0.0)
    found = infer_season_length([Series("a", seasonal_train)], None, SPLIT)
    assert found == (12, "autocorrelation")


def test_the_season_is_read_from_the_train_splits_dates_only() -> None:
    """Business days that go on trading every day from the validation split on are still a
    five-day week: the later splits' dates take no part, as their values take none."""
    train = pd.bdate_range("2024-01-01", periods=150)
    later = pd.date_range(train[-1] + pd.Timedelta(days=1), periods=100, freq="D")
    dates = train.append(later).to_numpy("datetime64[ns]")
    assert season_from_dates(dates) == 7, "the whole series would say 7"
    found = infer_season_length([Series("a", np.linspace(1, 2, len(dates)), dates)], None, SPLIT)
    assert found == (5, "dates")


def test_a_panel_whose_series_repeat_differently_is_refused() -> None:
    """The longest series' season is not the others': one model reads one season."""

    def series(name: str, dates: pd.DatetimeIndex) -> Series:
        return Series(name, np.linspace(1, 2, len(dates)), dates.to_numpy("datetime64[ns]"))

    daily = series("BIG", pd.bdate_range("2015-01-01", periods=300))
    monthly = series("MONTHLY", pd.date_range("2000-01-31", periods=250, freq="ME"))
    later = series("LATE", pd.bdate_range("2016-01-01", periods=170))
    assert infer_season_length([daily, later], None, SPLIT) == (5, "dates")
    with pytest.raises(DataError) as caught:
        infer_season_length([daily, later, monthly], None, SPLIT)
    assert str(caught.value) == (
        "series 'BIG' repeats every 5 values by its dates and series 'MONTHLY' repeats every 12 "
        "values by its dates, but one model reads one season; set data.season_length to the one "
        "to use (e.g. data.season_length=5), or train those series apart."
    )
    yearly = series("YEARLY", pd.date_range("1900-01-01", periods=60, freq="YS"))
    with pytest.raises(DataError, match=r"'LATE' repeats every 5 .* \(1 more season in the"):
        infer_season_length([yearly, monthly, later], None, SPLIT)
    with pytest.raises(
        DataError, match="'YEARLY' has no season by its dates and series 'Q' repeats every 4"
    ):
        infer_season_length(
            [yearly, series("Q", pd.date_range("2000", periods=50, freq="QS"))], None, SPLIT
        )
    assert infer_season_length([daily, monthly], 5, SPLIT) == (5, "data.season_length")


def test_a_season_longer_than_the_search_is_no_season_not_a_shorter_one() -> None:
    """Lags are searched up to a third of the train split: a season just past that shows as a
    correlation still rising at the last lag, which is not a season of that lag."""
    rng = np.random.default_rng(0)
    split = {"train": 0.7, "val": 0.15, "test": 0.15}
    found = {}
    for points in (48, 52, 60):
        t = np.arange(points)
        values = 100 + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, points)
        found[points] = infer_season_length([Series("a", values)], None, split)[0]
    assert found == {48: 1, 52: 1, 60: 12}


def test_auto_takes_up_to_four_seasons_where_the_train_split_holds_them() -> None:
    assert auto_window(12, 10, 5, train_split=120) == 48
    assert auto_window(12, 10, 5, train_split=100) == 36, "three seasons when four do not fit"
    assert auto_window(12, 10, 5, train_split=40) == 12
    assert auto_window(12, 10, 5, train_split=20) == 10
    assert auto_window(4, 10, 5, train_split=100) == 20, "twice the default beats 16 values"
    assert auto_window(1, 10, 5, train_split=100) == 20
    assert auto_window(1, 10, 5, train_split=40) == 10, "never shorter than the default"


def test_a_longer_season_plus_one_season_wins_where_it_fits() -> None:
    """A week of hours (168) beside the day (24): the window holds the week and the day after
    it (192) where the train split leaves half its values as window starts, else four days."""
    assert auto_window(24, 10, 5, train_split=1000, longer=168) == 192
    assert auto_window(24, 10, 5, train_split=300, longer=168) == 96
    assert auto_window(12, 10, 5, train_split=400, longer=24) == 48, "four seasons are longer"


def test_prepare_chooses_the_window_from_the_season(make_cfg) -> None:
    cfg = make_cfg("data=seasonal", "data.previous_time_window=auto", "data.length=400")
    prepared = prepare_data(plain(cfg.data))
    assert prepared.meta["season_length"] == 20 and prepared.meta["season_from"] == (
        "data.season_length"
    )
    assert prepared.window.previous_time_window == 80, "four seasons"
    assert prepared.meta["previous_time_window"] == 80 and "longer_season" not in prepared.meta
    gbm = prepare_data(plain(make_cfg("data.previous_time_window=auto").data))
    assert gbm.meta["season_length"] == 5 and gbm.meta["season_from"] == "dates"
    assert gbm.window.previous_time_window == 20, "four business weeks"


def test_the_prepare_log_says_which_window_auto_chose_and_why() -> None:
    """A panel's short member shortens every series' auto window: the log says what bounds it."""
    auto = {"source": {"previous_time_window": "auto"}, "next_time_window": 5}
    assert window_sentence(
        auto | {"previous_time_window": 48, "season_length": 12, "season_from": "dates"}
    ) == (
        "48 values in, 5 out (data.previous_time_window=auto: a season of 12 by the dates; the "
        "longest of up to four seasons, a longer season plus one, and twice "
        "data.shortest_window that leaves the shortest series' train split half its values as "
        "window starts)"
    )
    weekly = auto | {"previous_time_window": 192, "season_length": 24, "season_from": "dates"}
    assert window_sentence(weekly | {"longer_season": 168}).startswith(
        "192 values in, 5 out (data.previous_time_window=auto: a season of 24 by the dates and a "
        "longer one of 168 in the changes; "
    )
    none = auto | {"previous_time_window": 20, "season_length": 1, "season_from": "autocorrelation"}
    assert "(data.previous_time_window=auto: no season in the changes;" in window_sentence(none)
    fixed = {"source": {"previous_time_window": 10}, "previous_time_window": 10}
    assert window_sentence(fixed | {"next_time_window": 5}) == "10 values in, 5 out"


def test_a_season_longer_than_any_train_split_is_refused(make_cfg) -> None:
    with pytest.raises(ConfigError) as refused:
        prepare_data(plain(make_cfg("data.length=120", "data.season_length=200").data))
    assert str(refused.value) == (
        "data.season_length is 200, longer than the 84 values of the longest train split, which "
        "then holds not one season to learn it from; set a shorter one, or null to read it from "
        "the data."
    )
    held = prepare_data(plain(make_cfg("data.length=120", "data.season_length=84").data))
    assert held.season_length == 84


def test_the_shortest_series_searched_still_finds_a_season_of_two() -> None:
    """Eight changes are searched up to lag 2 (a third of them), which a season of two needs.
    Changes that alternate in sign, their swing growing then fading (a sine's arch), correlate
    with themselves two lags on by cos(pi / 5) = 0.81, above the bar of so few changes (0.79)."""
    arch = np.sin(np.pi * np.arange(1, 5) / 5)
    changes = np.ravel(np.column_stack([arch, -arch]))
    assert season_from_values(np.concatenate([[100.0], 100.0 + np.cumsum(changes)])) == 2


@pytest.mark.parametrize("season", [8, 10, 12])
def test_a_season_as_long_as_the_last_lag_searched_is_found_at_its_length(season: int) -> None:
    """Three clean seasons of changes: the search reaches a third of them, the season itself,
    and settles there, not on the shorter neighbour below the edge of the search."""
    t = np.arange(season)
    pattern = np.sin(2 * np.pi * t / season) + 0.5 * np.sin(4 * np.pi * t / season)
    changes = np.tile(pattern, 3)
    assert season_from_values(np.concatenate([[100.0], 100.0 + np.cumsum(changes)])) == season


@pytest.mark.parametrize("seed", [21, 36])
def test_a_noisy_season_is_not_taken_for_its_longer_neighbour(seed: int) -> None:
    """Four noisy seasons of 48: 49 positions leave the changes a little less variance in sum
    than 48, as any extra mean does, but not per degree of freedom (each mean costs one)."""
    t = np.arange(192)
    noise = np.random.default_rng(seed).normal(0, 0.3, 192)
    assert season_from_values(100 + 5 * np.sin(2 * np.pi * t / 48) + noise) == 48


def test_a_zero_correlation_is_not_the_first_negative_one() -> None:
    """The even and the odd changes are the same smooth wave, about a quarter of it apart: every
    odd lag correlates exactly 0, and lag 2 strongly, as a smooth wave does with its neighbour.
    Zero is not negative: the season is sought past the first negative lag (8), so lag 2's
    neighbourly correlation is no season, and the wave (28 changes) is too long to show."""
    even = np.array([0.0, 1, 2, 3, 3, 2, 1, 0, -1, -2, -3, -3, -2, -1])
    changes = np.ravel(np.column_stack([even, np.roll(even, -4)]))
    assert changes.sum() == 0 and changes[1:] @ changes[:-1] == 0
    assert season_from_values(np.concatenate([[100.0], 100.0 + np.cumsum(changes)])) == 1


def test_a_long_noisy_season_is_found_at_its_own_length_not_a_multiple() -> None:
    """Every multiple of a season correlates about as strongly as the season itself, so on long
    noisy splits the largest correlation fell on 24, 36 or 48 for a season of 12 in about half
    of them; the season is now the shortest whole part whose means the multiple's do not beat."""
    t = np.arange(2000)
    found = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        values = 100 + 0.2 * np.cumsum(rng.normal(0, 1, 2000)) + 5 * np.sin(2 * np.pi * t / 12)
        found.append(season_from_values((values + rng.normal(0, 1, 2000))[:1400]))
    assert sum(season == 12 for season in found) >= 18, found


def test_a_pipeline_refuses_a_baseline_season_longer_than_the_test_windows_past_at_prepare(
    make_cfg, tmp_path
) -> None:
    """An `evaluate.season_length` longer than a test window's past left the seasonal-naive
    baseline out of the report, with a log line after the fit: the pipeline refuses it once the
    data is prepared, before anything is trained."""
    from stockcast.evaluation.season_baseline import shortest_test_past
    from stockcast.orchestration.steps.prepare import run_prepare

    cfg = make_cfg(*FAST_OVERRIDES, config_name="pipeline")
    past = shortest_test_past(prepare_data(plain(cfg.data)))
    assert past is not None and past > 0
    refused = make_cfg(
        *FAST_OVERRIDES, f"evaluate.season_length={past + 1}", config_name="pipeline"
    )
    with pytest.raises(ConfigError) as refusal:
        run_prepare(refused, tmp_path / "refused")
    assert str(refusal.value) == (
        f"evaluate.season_length is {past + 1}, longer than the {past} values one test window "
        "has of its series before it, so the report would have no seasonal-naive baseline; set "
        f"at most {past}, or null for the data's season."
    )
    assert not (tmp_path / "refused").exists(), "refused before the folder is written"
    held = make_cfg(*FAST_OVERRIDES, f"evaluate.season_length={past}", config_name="pipeline")
    assert (run_prepare(held, tmp_path / "prepared") / "meta.json").is_file()
