"""Intervals that cover: conformal and Student-t calibration on validation windows, the
levels each method serves, and windows that did not move left out of the spread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.conformal import (
    calibrate_intervals,
    calibration_methods,
    centred_bounds,
    conformal_half_widths,
    conformal_inside_windows,
    random_walk_bands,
)
from stockcast.forecasting.intervals import (
    apply_intervals,
    volatility_scale,
)
from stockcast.forecasting.metrics import interval_errors
from stockcast.forecasting.student_t import student_t_quantile
from stockcast.forecasting.windows import RollingOrigins, WindowSizes, rolling_origins
from tests.interval_helpers import MIN_RELATIVE_SCALE, random_walk


def test_conformal_intervals_of_a_random_walk_cover_near_nominal() -> None:
    p, h = 10, 5
    calibration = rolling_origins(random_walk(3000, seed=1), WindowSizes(p, h))
    bounds = calibrate_intervals(
        calibration.inputs,
        naive_forecast(calibration.inputs, h),
        calibration.actual,
        [80, 95],
        min_relative_scale=MIN_RELATIVE_SCALE,
    )
    fresh = rolling_origins(random_walk(3000, seed=2), WindowSizes(p, h))
    forecast = naive_forecast(fresh.inputs, h)
    bands = apply_intervals(
        forecast, volatility_scale(fresh.inputs, min_relative_scale=MIN_RELATIVE_SCALE), bounds
    )
    for level, (lower, upper) in bands.items():
        coverage = interval_errors(fresh.actual, lower, upper, level)["coverage"]
        assert np.all(np.abs(coverage - int(level) / 100) < 0.04), (level, coverage)
        # A random walk's uncertainty grows with the horizon, and so must the band.
        assert np.all(np.diff((upper - lower).mean(axis=0)) > 0)


def narrow_quantile_outputs(inputs: np.ndarray, horizon: int, half: float) -> np.ndarray:
    """(windows, 5, horizon): a random walk's naive forecast with bands of `half` (2.5%, 97.5%)
    and half as wide (10%, 90%) in units of each window's volatility: too narrow, as a
    pinball loss fitted on its own train windows leaves them."""
    point = naive_forecast(inputs, horizon)
    unit = volatility_scale(inputs, min_relative_scale=MIN_RELATIVE_SCALE)
    offsets = np.array([-half, -half / 2, 0.0, half / 2, half])[None, :, None]
    return point[:, None, :] + offsets * unit[:, :, None]


def test_conformalized_quantile_bands_of_a_random_walk_cover_near_nominal() -> None:
    """Conformalized quantile regression: a quantile model's too narrow bands, widened by the
    conformity scores' split-conformal quantile per level and step (in each window's unit),
    cover their level of new windows, where they covered far less; each still holds the
    point and the band below it."""
    from stockcast.forecasting.conformal import quantile_corrections
    from stockcast.forecasting.quantiles import conformalized_bands, quantile_bands

    p, h, quantiles = 10, 5, [0.025, 0.1, 0.5, 0.9, 0.975]
    calibration = rolling_origins(random_walk(3000, seed=1), WindowSizes(p, h))
    outputs = narrow_quantile_outputs(calibration.inputs, h, 1.0)
    corrections = quantile_corrections(
        calibration.inputs, outputs, calibration.actual, quantiles, MIN_RELATIVE_SCALE
    )
    assert list(corrections) == ["80", "95"]
    fresh = rolling_origins(random_walk(3000, seed=2), WindowSizes(p, h))
    outputs = narrow_quantile_outputs(fresh.inputs, h, 1.0)
    own = quantile_bands(outputs, quantiles)
    point = outputs[:, 2, :]
    unit = volatility_scale(fresh.inputs, min_relative_scale=MIN_RELATIVE_SCALE)
    bands = conformalized_bands(own, point, unit, corrections)
    for level, (lower, upper) in bands.items():
        nominal = int(level) / 100
        before = interval_errors(fresh.actual, *own[level], level)["coverage"]
        assert np.all(before < nominal - 0.2), (level, before)
        coverage = interval_errors(fresh.actual, lower, upper, level)["coverage"]
        assert np.all(np.abs(coverage - nominal) < 0.04), (level, coverage)
    (low80, up80), (low95, up95) = bands["80"], bands["95"]
    assert np.all(low95 <= low80) and np.all(low80 <= point)
    assert np.all(point <= up80) and np.all(up80 <= up95)


def test_corrections_calibrated_where_no_window_moved_are_in_the_unit_they_are_served_in() -> None:
    """A validation split inside a flat stretch: every window is still, and its conformity
    scores were measured in the floor's unit (a ten-thousandth of the price) while a served
    window is scaled by its own moves or `still_unit`: a price of 90 got an 80% band from -160
    to 340. Measured in the served unit, the corrected bands keep the size of the errors."""
    from stockcast.forecasting.conformal import quantile_corrections
    from stockcast.forecasting.quantiles import conformalized_bands, quantile_bands

    rng = np.random.default_rng(0)
    level = 90 + rng.normal(0, 5, (60, 1))
    inputs = np.repeat(level, 10, axis=1)
    point = np.repeat(level, 5, axis=1)
    actual = point + rng.normal(0, 1, (60, 5)).cumsum(axis=1)
    quantiles = [0.1, 0.5, 0.9]
    outputs = np.stack([point - 0.01, point, point + 0.01], axis=1)
    unit = {"still_unit": 0.01}
    corrections = quantile_corrections(
        inputs, outputs, actual, quantiles, MIN_RELATIVE_SCALE, 10, **unit
    )
    served = volatility_scale(inputs, MIN_RELATIVE_SCALE, 10, **unit)
    own = quantile_bands(outputs, quantiles)
    lower, upper = conformalized_bands(own, point, served, corrections)["80"]
    assert ((upper - lower) / 2).max() < 5 * np.abs(actual - point).max()
    assert np.mean((actual >= lower) & (actual <= upper)) >= 0.8


def test_conformalized_bands_stay_nested_and_hold_the_point() -> None:
    """A correction that would narrow a band past its point stops it at the point, and a wider
    level whose correction would leave it inside the one below holds that one."""
    from stockcast.forecasting.quantiles import conformalized_bands

    point = np.array([[100.0, 100.0]])
    own = {"80": (point - 2.0, point + 2.0), "95": (point - 3.0, point + 3.0)}
    corrections = {"80": [-5.0, 2.0], "95": [1.0, -0.5]}
    bands = conformalized_bands(own, point, np.array([[1.0]]), corrections)
    np.testing.assert_array_equal(bands["80"][0], [[100.0, 96.0]])
    np.testing.assert_array_equal(bands["80"][1], [[100.0, 104.0]])
    np.testing.assert_array_equal(bands["95"][0], [[96.0, 96.0]])
    np.testing.assert_array_equal(bands["95"][1], [[104.0, 104.0]])
    # A level without a correction (too few windows) keeps its own outputs, nested.
    kept = conformalized_bands(own, point, np.array([[1.0]]), {"80": [0.5, 0.5]})
    np.testing.assert_array_equal(kept["95"][0], own["95"][0])


def test_conformal_half_widths_use_the_finite_sample_correction() -> None:
    errors = np.arange(-1.0, -10.0, -1.0).reshape(-1, 1)  # 9 errors: -1..-9, sizes 1..9
    # ceil((9 + 1) * 0.8) / 9 = 8/9 -> the 8th smallest size; at 95% ceil(10 * 0.95) = 10 > 9:
    # the largest.
    assert conformal_half_widths(errors, 80).tolist() == [8.0]
    assert conformal_half_widths(errors, 95).tolist() == [9.0]
    # 35 sizes 1..35: rank ceil(36 * 0.8) = 29 exactly, not the next one by float round-off.
    assert conformal_half_widths(np.arange(1.0, 36.0)[:, None], 80).tolist() == [29.0]
    with pytest.raises(ValueError, match="at least one held-out window"):
        calibrate_intervals(
            np.ones((0, 10)),
            np.ones((0, 5)),
            np.ones((0, 5)),
            [80],
            min_relative_scale=MIN_RELATIVE_SCALE,
        )


def test_bounds_are_centred_on_the_forecast_whatever_the_errors_lean() -> None:
    """Held-out windows where the forecast trailed a rise every time (errors all positive) give
    a band as far below the forecast as above it, wide enough to hold those errors: the lean
    is the validation span's, and a band shifted by it misses when the rise turns."""
    rng = np.random.default_rng(7)
    walk = 100.0 + rng.normal(size=300).cumsum()
    windows = rolling_origins(walk, WindowSizes(10, 5))
    forecast = windows.actual - np.abs(rng.normal(size=windows.actual.shape)) - 1.0
    scale = volatility_scale(windows.inputs, min_relative_scale=MIN_RELATIVE_SCALE)
    for count in (30, len(windows)):  # Student-t at 95% from 30, split-conformal from 286
        bounds = calibrate_intervals(
            windows.inputs[:count],
            forecast[:count],
            windows.actual[:count],
            [80, 95],
            min_relative_scale=MIN_RELATIVE_SCALE,
        )
        errors = ((windows.actual - forecast) / scale)[:count]
        for lower, upper in bounds.values():
            np.testing.assert_allclose(lower, -np.array(upper))
            # The band holds the forecast itself, where per-tail bounds of these errors would
            # lie wholly above it.
            assert np.all(np.array(upper) > 0)
            assert np.all(np.array(lower) < np.quantile(errors, 0.025, axis=0))
        (low80, high80), (low95, high95) = bounds["80"], bounds["95"]
        assert np.all(np.array(high95) > high80) and np.all(np.array(low95) < low80)


def test_stored_bounds_serve_as_stored_and_centring_keeps_their_widths() -> None:
    """A served model applies the bounds its spec stores, as stored (a model saved with per-tail
    bounds keeps them); `centred_bounds`, which a refit of such a model applies
    (`test_refit`), keeps their widths about the forecast."""
    leaning = {"80": [[0.5, 1.0], [2.5, 5.0]], "95": [[-1.0, -1.0], [4.0, 7.0]]}
    lower, upper = apply_intervals(np.array([[10.0, 10.0]]), np.array([[2.0]]), leaning)["80"]
    assert lower.tolist() == [[11.0, 12.0]] and upper.tolist() == [[15.0, 20.0]]
    assert centred_bounds(leaning) == {
        "80": [[-1.0, -2.0], [1.0, 2.0]],
        "95": [[-2.5, -4.0], [2.5, 4.0]],
    }
    assert centred_bounds(centred_bounds(leaning)) == centred_bounds(leaning)


class LastPrice(torch.nn.Module):
    """A model that repeats the last price over `horizon` steps."""

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon

    def forward(self, prices: torch.Tensor) -> torch.Tensor:
        return prices[:, -1:].expand(-1, self.horizon)


def test_a_window_that_did_not_move_does_not_set_every_windows_student_t_band() -> None:
    """A flat window's unit is the floor (a ten-thousandth of its price), so its next move is
    thousands of units; the Student-t spread, a root mean square over the windows, leaves it
    out unless no window moved."""
    rng = np.random.default_rng(3)
    walks = 100 + np.cumsum(rng.normal(0, 1, (5, 15)), axis=1)
    inputs, actual = walks[:, :10], walks[:, 10:]
    forecast = np.repeat(inputs[:, -1:], 5, axis=1)
    flat_inputs, flat_actual = np.full((1, 10), 100.0), np.full((1, 5), 101.0)
    alone = calibrate_intervals(
        inputs, forecast, actual, [80, 95], min_relative_scale=MIN_RELATIVE_SCALE
    )
    beside = calibrate_intervals(
        np.vstack([inputs, flat_inputs]),
        np.vstack([forecast, np.full((1, 5), 100.0)]),
        np.vstack([actual, flat_actual]),
        [80, 95],
        min_relative_scale=MIN_RELATIVE_SCALE,
    )
    np.testing.assert_allclose(beside["80"], alone["80"])
    assert np.max(beside["95"][1]) < 1.5 * np.max(alone["95"][1])
    only_flat = calibrate_intervals(
        flat_inputs,
        np.full((1, 5), 100.0),
        flat_actual,
        [80],
        min_relative_scale=MIN_RELATIVE_SCALE,
    )
    assert np.min(only_flat["80"][1]) > 100, "with no window that moved, the flat one decides"


def test_windows_that_did_not_move_do_not_set_a_split_conformal_band_either() -> None:
    """Halts (an illiquid ticker, a suspended one) more than the level's tail of the windows
    set its rank: 12 of 100 halted windows took a random walk's 95% bound from about 9 to 82
    units at step 5."""
    rng = np.random.default_rng(5)
    walks = 100 + np.cumsum(rng.normal(0, 1, (100, 15)), axis=1)
    inputs, actual = walks[:, :10], walks[:, 10:]
    forecast = np.repeat(inputs[:, -1:], 5, axis=1)
    halted = np.repeat(inputs[:12, -1:], 10, axis=1)
    alone = calibrate_intervals(
        inputs, forecast, actual, [80, 95], min_relative_scale=MIN_RELATIVE_SCALE
    )
    beside = calibrate_intervals(
        np.vstack([inputs, halted]),
        np.vstack([forecast, forecast[:12]]),
        np.vstack([actual, actual[:12]]),
        [80, 95],
        min_relative_scale=MIN_RELATIVE_SCALE,
    )
    for level in ("80", "95"):
        np.testing.assert_allclose(beside[level], alone[level])


def test_bands_calibrated_where_no_window_moved_are_in_the_unit_they_are_served_in() -> None:
    """A validation split inside a long flat stretch (a rate held for months): every window
    is still, so its errors were measured in the floor's unit (a ten-thousandth of the price)
    while the served bands scale by `still_unit` or the window's own moves, and a price of 90
    got a 95% band from 0 to 790. Calibrated in the served unit, the bands keep the size of
    the errors they were calibrated on, for the model's bands and the naive ones alike."""
    rng = np.random.default_rng(0)
    level = 100 + rng.normal(0, 5, (60, 1))
    inputs = np.repeat(level, 10, axis=1)
    forecast = np.repeat(level, 5, axis=1)
    actual = forecast + rng.normal(0, 1, (60, 5)).cumsum(axis=1)
    unit = {"still_unit": 0.01}
    history = RollingOrigins(np.arange(60), inputs, actual)
    naive = random_walk_bands(history, inputs[:1], [95], MIN_RELATIVE_SCALE, span=10, **unit)
    assert (naive["95"][1] - naive["95"][0]).max() < 10 * np.abs(actual - forecast).max()
    bounds = calibrate_intervals(
        inputs, forecast, actual, [80, 95], MIN_RELATIVE_SCALE, span=10, **unit
    )
    served = volatility_scale(inputs, MIN_RELATIVE_SCALE, 10, **unit)
    bands = apply_intervals(forecast, served, bounds)
    half = (bands["95"][1] - bands["95"][0]) / 2
    assert half.max() < 5 * np.abs(actual - forecast).max()
    assert np.mean((actual >= bands["95"][0]) & (actual <= bands["95"][1])) >= 0.95


def test_own_windows_are_counted_without_those_that_did_not_move() -> None:
    """40 own windows of which 10 did not move are 30, too few for a split-conformal 95% band:
    it is calibrated on every window that moved, not Student-t on the 30."""
    rng = np.random.default_rng(0)
    own, folds = 40, 160
    inputs = 100 + np.cumsum(rng.normal(0, 1, (own + folds, 10)), axis=1)
    inputs[:10] = 100.0
    forecast = np.repeat(inputs[:, -1:], 3, axis=1)
    actual = forecast + rng.normal(0, 1, (own + folds, 3))
    bounds = calibrate_intervals(
        inputs, forecast, actual, [80, 95], own_windows=own, min_relative_scale=MIN_RELATIVE_SCALE
    )
    moved = np.ones(own + folds, bool)
    moved[:10] = False
    errors = np.abs(actual - forecast) / volatility_scale(
        inputs, min_relative_scale=MIN_RELATIVE_SCALE
    )
    conformal = conformal_half_widths(errors[moved], 95)
    # Where it is not widened to hold the 80% band by the t quantiles' ratio: those bounds.
    assert np.all(np.asarray(bounds["95"][1]) >= conformal)
    np.testing.assert_allclose(bounds["95"][1][1:], conformal[1:])
    assert calibration_methods(moved, [80, 95], own) == {
        "80": "split_conformal",
        "95": "split_conformal",
    }


def test_the_higher_level_is_wider_where_most_errors_were_zero() -> None:
    """A price that stayed put on most windows (a policy rate): the 80% bound is zero, and no
    ratio widens a zero, so the 95% band was the 80% one. It takes the smallest error that was
    not zero; where every error was zero there is nothing to widen by."""
    inputs = 100 + np.tile(np.arange(10.0) % 2, (50, 1))  # windows that move, then stay put
    forecast = np.repeat(inputs[:, -1:], 5, axis=1)
    actual = forecast.copy()
    actual[:1] += 0.5  # 1 of 50 windows moves on
    bounds = calibrate_intervals(
        inputs, forecast, actual, [80, 95], min_relative_scale=MIN_RELATIVE_SCALE
    )
    assert np.all(np.asarray(bounds["80"][1]) == 0)
    assert np.all(np.asarray(bounds["95"][1]) > 0)
    still = calibrate_intervals(
        inputs, forecast, forecast, [80, 95], min_relative_scale=MIN_RELATIVE_SCALE
    )
    assert np.all(np.asarray(still["95"][1]) == 0)


def test_crossing_quantiles_are_rearranged_before_the_bands_are_read() -> None:
    """Separately trained quantile outputs can cross (the 0.05 output above the 0.1 one); the
    served model sorts them first, so each band holds the narrower ones and the point, and a
    model whose outputs do not cross is served unchanged."""
    from types import SimpleNamespace

    from stockcast.forecasting.quantiles import monotone_quantiles
    from stockcast.serving.pyfunc_model import PriceForecastModel

    quantiles = (0.5, 0.05, 0.95, 0.1, 0.9)  # in any order, as a config may list them
    crossing = np.array([[[100.0], [98.0], [102.0], [97.0], [103.0]]])
    np.testing.assert_array_equal(
        monotone_quantiles(crossing, quantiles)[0, :, 0], [100.0, 97.0, 103.0, 98.0, 102.0]
    )
    ordered = np.array([[[100.0], [96.0], [104.0], [98.0], [102.0]]])
    np.testing.assert_array_equal(monotone_quantiles(ordered, quantiles), ordered)
    served = PriceForecastModel()
    served.net = SimpleNamespace(
        quantiles=quantiles,
        point_index=0,
        quantile_forecast=lambda prices: torch.as_tensor(crossing).expand(len(prices), -1, -1),
    )
    served.allow_non_positive = False
    served.intervals = {"bounds": {}, "min_relative_scale": 1e-4}
    point, bands = served.forecast(np.full((1, 10), 100.0))
    assert point.tolist() == [[100.0]]
    assert bands["90"][0] <= bands["80"][0] < point < bands["80"][1] <= bands["90"][1]


def test_quantile_pairs_become_bands() -> None:
    from stockcast.forecasting.quantiles import quantile_bands

    outputs = np.arange(2 * 5 * 3, dtype=float).reshape(2, 5, 3)
    bands = quantile_bands(outputs, [0.025, 0.1, 0.5, 0.9, 0.975])
    assert list(bands) == ["80", "95"]
    np.testing.assert_array_equal(bands["80"][0], outputs[:, 1, :])
    np.testing.assert_array_equal(bands["95"][1], outputs[:, 4, :])
    assert quantile_bands(outputs[:, :3], [0.1, 0.5, 0.8]) == {}, "no symmetric pair, no band"


def test_the_windows_a_level_needs_for_a_conformal_bound_inside_the_sample() -> None:
    assert [conformal_inside_windows(level) for level in (50, 80, 95)] == [3, 9, 39]
    # Levels whose 2 / alpha is not whole round up: 70% needs 2 / 0.3 - 1 = 5.67 -> 6 windows.
    assert [conformal_inside_windows(level) for level in (70, 85, 90)] == [6, 13, 19]
    # At exactly that many windows the bound is the second largest error, not the largest.
    assert conformal_half_widths(np.arange(9.0)[:, None], 80).tolist() == [7.0]
    # The definition: with n windows the bound's rank ceil((n + 1)(1 - alpha)) is at most n - 1
    # (inside the sample), with one window fewer it is not.
    for level in (50, 70, 80, 85, 90, 95, 99):
        n, alpha = conformal_inside_windows(level), (100 - level) / 100
        assert np.ceil((n + 1) * (1 - alpha) - 1e-9) <= n - 1
        assert np.ceil(n * (1 - alpha) - 1e-9) > n - 2


# points - 14 validation windows: 6, 8 (one short of 80%'s 9), 9, 38 (one short of 95%'s 39)
# and 39.
@pytest.mark.parametrize(
    ("points", "methods"),
    [
        (20, ("student_t", "student_t")),
        (22, ("student_t", "student_t")),
        (23, ("split_conformal", "student_t")),
        (52, ("split_conformal", "student_t")),
        (53, ("split_conformal", "split_conformal")),
    ],
)
def test_calibration_says_which_levels_have_too_few_validation_windows(
    points: int, methods: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    from stockcast.data.split import SplitData
    from stockcast.forecasting.windows import WindowSizes
    from stockcast.training.calibration import calibrate_on_validation

    values = 100.0 + np.random.default_rng(3).normal(size=points).cumsum()
    val = SplitData("val", values, np.array([0, points]), 10, ("s",))
    history = 100.0 + np.random.default_rng(4).normal(size=200).cumsum()
    train = SplitData("train", history, np.array([0, 200]), 0, ("s",))
    prepared = SimpleNamespace(
        splits={"train": train, "val": val},
        window=WindowSizes(10, 5),
        scaler={"min_relative_scale": 1e-4},
        season_length=1,
    )

    with caplog.at_level("INFO", logger="stockcast"):
        spec = calibrate_on_validation(LastPrice(5), prepared, [80, 95], 10, batch_size=None)
    assert spec["calibration_windows"] == points - 14
    assert spec["windows_needed"] == {"80": 9, "95": 39}
    assert spec["methods"] == dict(zip(("80", "95"), methods, strict=True))
    (low80, high80), (low95, high95) = spec["bounds"]["80"], spec["bounds"]["95"]
    assert np.all(np.array(low95) < low80) and np.all(np.array(high95) > high80)
    said = [r for r in caplog.records if "Student-t" in r.getMessage()]
    assert len(said) == methods.count("student_t")
    # Where no band is conformal, each says so as a warning, and that it is wide.
    warned = "split_conformal" not in methods
    assert {r.levelname for r in said} <= ({"WARNING"} if warned else {"INFO"})
    assert all(("wide with so few" in r.getMessage()) == warned for r in said)
    # A few windows at a time (data.eval_batch_size) gives the same bounds.
    assert calibrate_on_validation(LastPrice(5), prepared, [80, 95], 10, batch_size=7) == spec


def test_a_seasonal_fits_student_t_bounds_grow_as_its_seasons_naive_error() -> None:
    """The calibration hands the data's season to the bands' growth over the steps: a monthly
    series' bounds from six validation windows are those of the seasonal naive's spread on
    its train split, not the naive one's."""
    from types import SimpleNamespace

    from stockcast.data.split import SplitData
    from stockcast.forecasting.conformal import baseline_spread_profile
    from stockcast.training.calibration import calibrate_on_validation

    rng = np.random.default_rng(9)

    def monthly(points: int) -> np.ndarray:
        return 100 + 10 * np.sin(2 * np.pi * np.arange(points) / 12) + rng.normal(size=points)

    sizes = WindowSizes(24, 5)
    val = SplitData("val", monthly(34), np.array([0, 34]), 24, ("s",))
    train = SplitData("train", monthly(300), np.array([0, 300]), 0, ("s",))
    prepared = SimpleNamespace(
        splits={"train": train, "val": val},
        window=sizes,
        scaler={"min_relative_scale": MIN_RELATIVE_SCALE},
        season_length=12,
    )

    spec = calibrate_on_validation(LastPrice(5), prepared, [80, 95], 12, batch_size=None)
    assert spec["methods"] == {"80": "student_t", "95": "student_t"}
    windows = val.origins(sizes)
    history = train.origins(sizes)
    for season, same in ((12, True), (1, False)):
        expected = calibrate_intervals(
            windows.inputs,
            np.repeat(windows.inputs[:, -1:], 5, axis=1),
            windows.actual,
            [80, 95],
            MIN_RELATIVE_SCALE,
            baseline_spread_profile(history, season, MIN_RELATIVE_SCALE, 12),
            12,
        )
        for level, bounds in expected.items():
            close = np.allclose(spec["bounds"][level], bounds, rtol=1e-5)
            assert close == same, (season, level)


@pytest.mark.parametrize(
    ("windows", "reach"),
    # Student-t bounds from 5 windows (0.825 / 0.955 here); split-conformal at 80% from 13,
    # whose finite-sample correction keeps it over nominal (12 / 14 = 0.857 expected, 0.843 here);
    # both levels close to nominal at 25 (0.797 / 0.948).
    [
        (5, ((0.78, 0.87), (0.92, 0.98))),
        (13, ((0.80, 0.88), (0.93, 0.98))),
        (25, ((0.76, 0.84), (0.92, 0.97))),
    ],
)
def test_short_series_bands_differ_by_level_and_cover_near_nominal(
    windows: int, reach: tuple[tuple[float, float], tuple[float, float]]
) -> None:
    """Calibrated on a few windows of a random walk, scored on many fresh ones, averaged over
    500 simulated series: close to nominal coverage at both levels, never one band for both."""
    rng = np.random.default_rng(windows)
    p, h, covered = 10, 5, {"80": [], "95": []}
    for _ in range(500):
        walk = 100.0 + rng.normal(size=p + h + windows - 1 + 200).cumsum()
        calibration = rolling_origins(walk[: p + h + windows - 1], WindowSizes(p, h))
        fresh = rolling_origins(walk[p + h + windows - 1 :], WindowSizes(p, h))
        bounds = calibrate_intervals(
            calibration.inputs,
            naive_forecast(calibration.inputs, h),
            calibration.actual,
            [80, 95],
            min_relative_scale=MIN_RELATIVE_SCALE,
        )
        assert np.all(np.array(bounds["95"][1]) > bounds["80"][1])
        bands = apply_intervals(
            naive_forecast(fresh.inputs, h),
            volatility_scale(fresh.inputs, min_relative_scale=MIN_RELATIVE_SCALE),
            bounds,
        )
        for level, (lower, upper) in bands.items():
            covered[level].append(((fresh.actual >= lower) & (fresh.actual <= upper)).mean())
    (low80, high80), (low95, high95) = reach
    assert low80 <= np.mean(covered["80"]) <= high80
    assert low95 <= np.mean(covered["95"]) <= high95


def test_more_evidence_calibrates_only_the_levels_the_own_windows_are_too_few_for() -> None:
    """25 own held-out windows give the 80% band its split-conformal bounds (9 needed) but
    are too few for the 95% band's (39): that one comes from every row, the own windows and
    60 windows of a weaker fit with twice the errors."""
    rng = np.random.default_rng(5)
    walk = 100.0 + rng.normal(size=200).cumsum()
    windows = rolling_origins(walk, WindowSizes(10, 5))
    own, more = slice(0, 25), slice(100, 160)
    inputs = np.concatenate([windows.inputs[own], windows.inputs[more]])
    actual = np.concatenate([windows.actual[own], windows.actual[more]])
    naive = naive_forecast(inputs, 5)
    forecast = np.concatenate([naive[:25], actual[25:] + 2.0 * (naive[25:] - actual[25:])])
    bounds = calibrate_intervals(
        inputs, forecast, actual, [80, 95], own_windows=25, min_relative_scale=MIN_RELATIVE_SCALE
    )
    alone = calibrate_intervals(
        inputs[:25], forecast[:25], actual[:25], [80, 95], min_relative_scale=MIN_RELATIVE_SCALE
    )
    every_row = calibrate_intervals(
        inputs, forecast, actual, [80, 95], min_relative_scale=MIN_RELATIVE_SCALE
    )
    assert bounds["80"] == alone["80"] != every_row["80"]
    # The 95% band: every row's own bounds (computed alone), widened only where it must hold
    # the 80% band; the weaker fit's errors make it wider than the own windows' band.
    (low, high), (raw_low, raw_high) = (
        bounds["95"],
        calibrate_intervals(inputs, forecast, actual, [95], min_relative_scale=MIN_RELATIVE_SCALE)[
            "95"
        ],
    )
    assert np.all(np.array(low) <= raw_low) and np.all(np.array(high) >= raw_high)
    assert np.isclose(low, raw_low).any() and np.isclose(high, raw_high).any()
    assert np.all(np.array(high) - low > np.array(alone["95"][1]) - alone["95"][0])
    assert calibration_methods(np.ones(85, bool), [80, 95], own_windows=25) == {
        "80": "split_conformal",
        "95": "split_conformal",
    }
    assert calibration_methods(np.ones(30, bool), [80, 95], own_windows=10) == {
        "80": "split_conformal",
        "95": "student_t",
    }


def test_a_level_is_at_least_the_one_below_times_their_t_ratio_at_n_minus_1_dof() -> None:
    """Forty windows that all erred by the same size: both split-conformal bounds are that size,
    so the 95% one is the 80% one widened by their t quantiles' ratio, at the n - 1 degrees of
    freedom a Student-t bound from the same windows has (whose two levels differ by exactly
    that ratio), not n."""
    windows = 40
    inputs = np.stack([random_walk(8, seed) for seed in range(windows)])
    forecast = np.repeat(inputs[:, -1:], 3, axis=1)
    scale = volatility_scale(inputs, MIN_RELATIVE_SCALE)
    actual = forecast + 2.0 * scale  # every error is 2 band units
    bounds = calibrate_intervals(inputs, forecast, actual, [80, 95], MIN_RELATIVE_SCALE)
    np.testing.assert_allclose(bounds["80"][1], 2.0)
    ratio = student_t_quantile(0.975, windows - 1) / student_t_quantile(0.9, windows - 1)
    np.testing.assert_allclose(bounds["95"][1], 2.0 * ratio, rtol=1e-12)
