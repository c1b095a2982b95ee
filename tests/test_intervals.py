"""Forecast quality: intervals that cover, the served DataFrame contract, the Diebold–Mariano test,
a step budget that adapts to the series, and a model anchored on the last price."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stockcast.errors import ConfigError
from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.conformal import (
    baseline_spread_profile,
    calibrate_intervals,
    calibration_methods,
    centred_bounds,
    conformal_half_widths,
    conformal_inside_windows,
    random_walk_bands,
    student_t_half_widths,
)
from stockcast.forecasting.frame import forecast_columns, split_forecast_frame
from stockcast.forecasting.intervals import (
    apply_intervals,
    band_scale_span,
    recorded_unit,
    typical_move,
    typical_unit,
    unit_record,
    volatility_scale,
)
from stockcast.forecasting.metrics import diebold_mariano, interval_errors
from stockcast.forecasting.quantiles import monotone_quantiles, quantile_offsets
from stockcast.forecasting.student_t import student_t_quantile, student_t_two_sided_p
from stockcast.forecasting.windows import RollingOrigins, WindowSizes, rolling_origins
from stockcast.models.spec import build_price_forecaster
from tests.conftest import give_outputs

# data.min_relative_scale's default: the band unit's floor, a share of the last price.
MIN_RELATIVE_SCALE = 1e-4
SPEC = {
    "previous_time_window": 6,
    "next_time_window": 3,
    "mlp": {"hidden_sizes": [8], "activation": "relu", "dropout": 0.0, "anchor": "last"},
    "scaler": {
        "kind": "per_window",
        "loc": 0.0,
        "scale": 1.0,
        "min_relative_scale": MIN_RELATIVE_SCALE,
    },
}


def random_walk(n: int, seed: int, volatility: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 + np.cumsum(rng.normal(0.0, volatility, n))


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


def test_bands_follow_recent_volatility() -> None:
    calm, wild = random_walk(50, 3, 0.1)[None, -10:], random_walk(50, 3, 5.0)[None, -10:]
    half = conformal_half_widths(np.random.default_rng(0).normal(size=(500, 2)), 80)
    bounds = {"80": [(-half).tolist(), half.tolist()]}
    for inputs in (calm, wild):
        forecast = naive_forecast(inputs, 2)
        lower, upper = apply_intervals(
            forecast, volatility_scale(inputs, min_relative_scale=MIN_RELATIVE_SCALE), bounds
        )["80"]
        assert np.all(lower < forecast) and np.all(upper > forecast)
    width = {
        name: np.diff(
            apply_intervals(
                naive_forecast(x, 2),
                volatility_scale(x, min_relative_scale=MIN_RELATIVE_SCALE),
                bounds,
            )["80"],
            axis=0,
        )
        for name, x in (("calm", calm), ("wild", wild))
    }
    assert width["wild"].mean() > 20 * width["calm"].mean()


def test_the_band_scale_is_measured_over_the_last_whole_seasons() -> None:
    """At least model.interval_scale_values (10) values, in whole seasons, at most the window:
    four seasons of a window do not stretch the band's unit over four years."""
    cases = [(10, 1), (80, 20), (48, 12), (20, 4), (192, 48), (8, 1), (30, 7), (20, 5)]
    assert [band_scale_span(window, season, 10) for window, season in cases] == [
        10, 20, 12, 12, 48, 8, 14, 10
    ]  # fmt: skip
    rows = np.array([[0.0, 10.0, 0.0, 10.0, 11.0, 13.0, 14.0]])
    # The last four values' changes 1, 2, 1 lie 1/3, 2/3, 1/3 from their mean: 4/9 on average.
    assert volatility_scale(rows, span=4, min_relative_scale=MIN_RELATIVE_SCALE)[
        0, 0
    ] == pytest.approx(4.0 / 9)
    # The mean absolute change, the unit of models saved before the drift-free one.
    assert volatility_scale(rows, span=4, drift_free=False, min_relative_scale=MIN_RELATIVE_SCALE)[
        0, 0
    ] == pytest.approx(4.0 / 3)
    assert volatility_scale(rows, drift_free=False, min_relative_scale=MIN_RELATIVE_SCALE)[
        0, 0
    ] == pytest.approx(34.0 / 6)


def test_a_spec_reads_back_the_band_unit_it_records() -> None:
    none = {"still_unit": None, "still_move": None}
    assert recorded_unit(unit_record(12)) == {"span": 12, "drift_free": True, **none}
    assert recorded_unit(unit_record(12, 0.01))["still_unit"] == 0.01
    assert recorded_unit(unit_record(12, 0.01, 0.5))["still_move"] == 0.5
    # A spec from before any key: the whole window, the mean absolute change, the floor.
    assert recorded_unit({"bounds": {}}) == {"span": None, "drift_free": False, **none}


def test_a_window_that_stayed_at_zero_gets_the_typical_move() -> None:
    """A store closed for a month: a share of its last value 0 is 0, and its bands had no width
    (its next held-out 0 fell outside them). A window still at another level keeps the share
    of it; data that may reach 0 records the typical move even where train held no 0."""
    from types import SimpleNamespace

    from stockcast.forecasting.windows import WindowSizes
    from stockcast.training.calibration import band_unit

    rows = np.array([[0.0] * 10, [100.0] * 10, [0.0, 1.0] * 5])
    scale = volatility_scale(
        rows, still_unit=0.01, still_move=2.5, min_relative_scale=MIN_RELATIVE_SCALE
    )[:, 0]
    own = volatility_scale(rows, min_relative_scale=MIN_RELATIVE_SCALE)[2, 0]
    np.testing.assert_allclose(scale, [2.5, 1.0, own])  # one that moved keeps its own unit
    # Without one (prices, or a model saved before), as before: the floor at 0.
    assert (
        volatility_scale(rows, still_unit=0.01, min_relative_scale=MIN_RELATIVE_SCALE)[0, 0] < 1e-9
    )
    walk = 100.0 + random_walk(400, seed=5) - random_walk(400, seed=5).min()
    windows = np.lib.stride_tricks.sliding_window_view(walk, 10)
    units = volatility_scale(windows, min_relative_scale=MIN_RELATIVE_SCALE)[:, 0]
    assert typical_move(windows, MIN_RELATIVE_SCALE) == pytest.approx(np.median(units))
    assert typical_move(np.zeros((5, 10)), MIN_RELATIVE_SCALE) is None

    def recorded(allow_non_positive: bool) -> dict:
        train = SimpleNamespace(origins=lambda sizes: SimpleNamespace(inputs=windows))
        prepared = SimpleNamespace(
            splits={"train": train},
            window=WindowSizes(10, 1),
            scaler={"min_relative_scale": MIN_RELATIVE_SCALE},
            meta={"source": {"allow_non_positive": allow_non_positive}},
        )
        return band_unit(prepared, 10)

    # Train held no 0 (a store open all along, closed later): the move is recorded all the same.
    assert recorded(True)["still_move"] == pytest.approx(np.median(units))
    assert "still_move" not in recorded(False)


def test_a_window_that_did_not_move_gets_the_typical_unit_not_the_floor() -> None:
    """Ten equal prices (a halted ticker) or a perfectly steady line say nothing about the next
    move: with a still unit their unit is that share of the last price, where the floor gave a
    band a few hundredths of a percent wide; a window that moved keeps its own unit."""
    rows = np.array([[100.0] * 10, 50.0 + np.arange(10.0), [100.0, 101.0, 100.0, 101.0, 100.0] * 2])
    floor = volatility_scale(rows, min_relative_scale=MIN_RELATIVE_SCALE)[:, 0]
    np.testing.assert_allclose(floor[:2], [1e-2, 5.9e-3], rtol=1e-6)
    typical = volatility_scale(rows, still_unit=0.01, min_relative_scale=MIN_RELATIVE_SCALE)[:, 0]
    np.testing.assert_allclose(typical, [1.0, 0.59, floor[2]])
    # A still unit under the floor never narrows it.
    np.testing.assert_allclose(
        volatility_scale(rows, still_unit=1e-9, min_relative_scale=MIN_RELATIVE_SCALE)[:, 0], floor
    )


@pytest.mark.parametrize("unit", [1e-6, 1e-12, 1e-17])
def test_band_units_and_bands_follow_the_price_unit_down_to_tiny_prices(unit: float) -> None:
    """Prices the input guard accepts (down to about 1e-19) are prices in another unit: a floor
    with float64's eps as an absolute term (2.2e-16) outweighed the moves of prices near 1e-15,
    every window read as still, and the naive bands beside the model's changed their
    coverage."""
    walk = random_walk(300, seed=3)
    history = rolling_origins(walk, WindowSizes(10, 5))
    last = walk[None, -10:]
    scale = volatility_scale(history.inputs, MIN_RELATIVE_SCALE, 10)
    np.testing.assert_allclose(
        volatility_scale(history.inputs * unit, MIN_RELATIVE_SCALE, 10), scale * unit, rtol=1e-9
    )
    bands = random_walk_bands(history, last, [80, 95], MIN_RELATIVE_SCALE, span=10)
    tiny = rolling_origins(walk * unit, WindowSizes(10, 5))
    small = random_walk_bands(tiny, last * unit, [80, 95], MIN_RELATIVE_SCALE, span=10)
    for level in ("80", "95"):
        np.testing.assert_allclose(small[level][0], bands[level][0] * unit, rtol=1e-9)
        np.testing.assert_allclose(small[level][1], bands[level][1] * unit, rtol=1e-9)


def test_the_typical_unit_is_the_median_of_the_windows_that_moved() -> None:
    walk = random_walk(400, seed=5)
    windows = np.lib.stride_tricks.sliding_window_view(walk, 10)
    flat = np.full((50, 10), 100.0)
    own = np.median(
        volatility_scale(windows, min_relative_scale=MIN_RELATIVE_SCALE)[:, 0] / windows[:, -1]
    )
    # The windows that did not move are left out, so they do not drag the median to the floor.
    assert typical_unit(
        np.r_[windows, flat], min_relative_scale=MIN_RELATIVE_SCALE
    ) == pytest.approx(own)
    assert typical_unit(flat, min_relative_scale=MIN_RELATIVE_SCALE) is None
    assert typical_unit(np.empty((0, 10)), min_relative_scale=MIN_RELATIVE_SCALE) is None


def test_a_steady_trend_does_not_widen_the_band_unit() -> None:
    """The unit measures how irregular a window's moves are, not how large: a walk with a drift
    of five times its typical move gets the unit of the same walk without it, where the mean
    absolute change would make its bands several times wider."""
    walk = random_walk(200, seed=4)
    trending = walk + 5.0 * np.arange(200)
    windows = np.lib.stride_tricks.sliding_window_view(np.c_[walk, trending].T, 10, axis=1)
    plain, drifting = (
        volatility_scale(w, span=10, min_relative_scale=MIN_RELATIVE_SCALE) for w in windows
    )
    np.testing.assert_allclose(drifting, plain, rtol=1e-9)
    old_plain, old_drifting = (
        volatility_scale(w, span=10, drift_free=False, min_relative_scale=MIN_RELATIVE_SCALE)
        for w in windows
    )
    assert np.median(old_drifting / old_plain) > 4


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


def test_interval_scores_by_hand() -> None:
    actual = np.array([[1.0], [5.0], [10.0]])
    lower, upper = np.full((3, 1), 2.0), np.full((3, 1), 8.0)
    scores = interval_errors(actual, lower, upper, 80)  # alpha = 0.2: penalty 2 / 0.2 = 10
    assert scores["coverage"][0] == pytest.approx(1 / 3)
    assert scores["width"][0] == pytest.approx(6.0)
    # 6 + 10 * 1 (below by 1), 6, 6 + 10 * 2 (above by 2)
    assert scores["winkler"][0] == pytest.approx((16 + 6 + 26) / 3)
    # Pinball at tau = 0.1 (lower) and 0.9 (upper): below by 1 costs the lower bound 0.9 and the
    # upper 0.1 x 7; inside, 0.1 x 3 and 0.1 x 3; above by 2, 0.1 x 8 and 0.9 x 2.
    lower_loss = (0.9 * 1 + 0.1 * 3 + 0.1 * 8) / 3
    upper_loss = (0.1 * 7 + 0.1 * 3 + 0.9 * 2) / 3
    assert scores["pinball"][0] == pytest.approx(0.5 * (lower_loss + upper_loss))
    # A target on an edge is inside it and costs no penalty (a band that did not move, whose
    # edges are the price, covers it).
    edges = interval_errors(np.array([[2.0], [8.0]]), lower[:2], upper[:2], 80)
    assert edges["coverage"][0] == 1.0 and edges["winkler"][0] == pytest.approx(6.0)
    flat = interval_errors(np.full((2, 1), 5.0), np.full((2, 1), 5.0), np.full((2, 1), 5.0), 95)
    assert flat["coverage"][0] == 1.0 and flat["winkler"][0] == 0.0


def test_diebold_mariano_matches_a_hand_computed_case() -> None:
    errors_a = np.array([1.0, -2.0, 1.0, 0.5, -1.0, 2.0])
    errors_b = np.array([2.0, -2.0, 3.0, 1.0, -1.5, 2.0])
    d = np.abs(errors_a) - np.abs(errors_b)  # [-1, 0, -2, -0.5, -0.5, 0]
    n = 6
    mean = d.mean()
    gamma0 = ((d - mean) ** 2).sum() / n
    gamma1 = ((d[1:] - mean) * (d[:-1] - mean)).sum() / n
    expected = mean / math.sqrt((gamma0 + 2 * gamma1) / n)
    expected *= math.sqrt((n + 1 - 2 * 2 + 2 * 1 / n) / n)
    statistic, p_value = diebold_mariano(errors_a, errors_b, step=2)
    assert statistic == pytest.approx(expected)
    # Read against Student's t with n - 1 = 5 degrees of freedom (Abramowitz and Stegun 26.7.4).
    angle = math.atan(abs(expected) / math.sqrt(5))
    central = (
        2
        / math.pi
        * (angle + math.sin(angle) * math.cos(angle) * (1 + 2 / 3 * math.cos(angle) ** 2))
    )
    assert p_value == pytest.approx(1 - central)
    assert p_value > math.erfc(abs(expected) / math.sqrt(2)), "wider tails than the normal's"
    assert statistic < 0, "a is more accurate"
    same = diebold_mariano(errors_a, errors_a, step=1)
    assert all(math.isnan(v) for v in same), "no variance: no verdict, not a crash"


def test_diebold_mariano_gives_no_verdict_with_no_more_windows_than_the_step() -> None:
    """Three windows, step 3: the lag-2 autocovariance leaves nothing to estimate a variance
    from (it came out as -5.6e7 of rounding noise, p = 0, on a 48-month series)."""
    errors_a, errors_b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 2.5, 1.0])
    assert all(math.isnan(v) for v in diebold_mariano(errors_a, errors_b, step=3))
    assert all(math.isfinite(v) for v in diebold_mariano(errors_a, errors_b, step=2))


def test_diebold_mariano_keeps_a_verdict_where_the_plain_variance_turns_negative() -> None:
    """Differences that swing with period 8 around a clear mean: their autocovariances at lags
    1-4, weighed alike, sum to a negative variance; the Bartlett weights give a positive one."""
    d = -2.0 + np.tile([1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0], 10)
    errors_a, errors_b = d + 5.0, np.full_like(d, 5.0)
    n, step = len(d), 5
    c = d - d.mean()
    gammas = [c @ c / n] + [2 * (c[lag:] @ c[:-lag]) / n for lag in range(1, step)]
    assert sum(gammas) <= 0
    bartlett = sum((1 - lag / step) * g for lag, g in enumerate(gammas))
    expected = d.mean() / math.sqrt(bartlett / n)
    expected *= math.sqrt((n + 1 - 2 * step + step * (step - 1) / n) / n)
    statistic, p_value = diebold_mariano(errors_a, errors_b, step)
    assert statistic == pytest.approx(expected) and statistic < -3
    assert p_value < 1e-3


def test_an_untrained_anchored_model_repeats_the_last_price() -> None:
    net = build_price_forecaster(SPEC)
    prices = torch.tensor(random_walk(6, 5)[None, :], dtype=torch.float32)
    torch.testing.assert_close(net(prices), prices[:, -1:].expand(1, 3))


def test_forecast_frame_columns_round_trip() -> None:
    point = np.arange(6.0).reshape(2, 3)
    bands = {"80": (point - 1, point + 1), "95": (point - 2, point + 2)}
    frame = apply_and_frame(point, bands)
    assert list(frame.columns) == forecast_columns(3, ["80", "95"])
    assert list(frame.columns)[:4] == ["forecast_1", "forecast_2", "forecast_3", "lower_80_1"]
    again, again_bands = split_forecast_frame(frame)
    np.testing.assert_array_equal(again, point)
    np.testing.assert_array_equal(again_bands["95"][1], point + 2)


def apply_and_frame(point: np.ndarray, bands: dict) -> pd.DataFrame:
    from stockcast.forecasting.frame import forecast_frame

    return forecast_frame(point, bands)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved model folder with calibrated bands (weights untrained: the anchored naive)."""
    from stockcast.training.export import save_model_dir

    spec = SPEC | {
        "num_threads": 1,
        "intervals": {
            "method": "split_conformal",
            "calibration_windows": 100,
            "min_relative_scale": 1e-4,
            "bounds": {"80": [[-1.0, -1.5, -2.0], [1.0, 1.5, 2.0]]},
        },
    }
    folder = tmp_path_factory.mktemp("model") / "model"
    metadata = {"kind": "stockcast.model", "previous_time_window": 6, "next_time_window": 3}
    save_model_dir(build_price_forecaster(spec), spec, folder, metadata, np.arange(6.0) + 100)
    return folder


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_the_served_model_takes_any_numeric_dtype_and_returns_the_contract(
    model_dir: Path, dtype: type
) -> None:
    from stockcast.serving.model import open_model_dir

    model = open_model_dir(model_dir)
    rows = np.array([[100, 101, 102, 103, 104, 105], [50, 50, 50, 50, 50, 52]], dtype=dtype)
    frame = model.pyfunc.predict(rows)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 2
    assert list(frame.columns) == forecast_columns(3, ["80"])
    assert (frame.dtypes == np.float64).all()
    np.testing.assert_allclose(
        frame[["forecast_1", "forecast_3"]].to_numpy(), [[105, 105], [52, 52]]
    )
    # Bands are the calibrated multiples of each row's mean absolute move (1.0 and 0.4 here).
    np.testing.assert_allclose(frame["upper_80_3"] - frame["forecast_3"], [2.0, 0.8], rtol=1e-6)
    np.testing.assert_allclose(frame["forecast_1"] - frame["lower_80_1"], [1.0, 0.4], rtol=1e-6)


def test_read_only_rows_are_forecast_without_a_warning(model_dir: Path) -> None:
    import warnings

    from stockcast.serving.model import open_model_dir

    model = open_model_dir(model_dir)
    # Batch inputs are often read-only views (memory-mapped files, strided windows).
    rows = np.frombuffer(np.arange(100.0, 112.0).tobytes())
    assert not rows.flags.writeable
    # torch warns about a read-only array once per process: make it warn every time, so an
    # earlier test that triggered it cannot hide it here.
    warned_always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            frame = model.pyfunc.predict(rows.reshape(2, 6))
    finally:
        torch.set_warn_always(warned_always)
    np.testing.assert_allclose(frame["forecast_1"], [105.0, 111.0])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1, 2, 3]], "exactly 6 prices"),
        ([[1, 2, 3, 4, 5, float("nan")]], "holds nan at position 6; send finite prices"),
        ([["a", 2, 3, 4, 5, 6]], "holds 'a' at position 1, which is not a number"),
        (pd.DataFrame([[True, 2, 3, 4, 5, 6]]), "holds True at position 1, which is not a number"),
        ([[1, 2, 3, 4, 5, -6]], "holds -6 at position 6, but prices are above 0"),
        ([[1e-30] * 6], "holds 1e-30 at position 1 (and 5 more), too small"),
    ],
)
def test_the_served_model_refuses_bad_rows_in_one_sentence(model_dir: Path, rows, message) -> None:
    """The model folder's own code runs the input guard: `mlflow models serve` and an endpoint
    refuse what predict and scripts/serve.py refuse."""
    from stockcast.serving.model import open_model_dir

    with pytest.raises(Exception, match=re.escape(message)):
        open_model_dir(model_dir).pyfunc.predict(rows)


def test_the_served_model_floors_a_negative_band_edge(model_dir: Path) -> None:
    from stockcast.serving.model import open_model_dir

    frame = open_model_dir(model_dir).pyfunc.predict([[0.5, 5.0] * 3])
    # The anchored naive forecasts 5.0; its 80% band reaches 2 moves of 4.5 below: floored.
    assert frame["forecast_1"].iloc[0] == pytest.approx(5.0)
    assert frame[["lower_80_2", "lower_80_3"]].to_numpy().tolist() == [[0.0, 0.0]]


def test_the_model_folder_names_no_path_of_this_machine(model_dir: Path) -> None:
    text = (model_dir / "MLmodel").read_text()
    assert "model_code_path: pyfunc_model.py" in text
    assert str(Path.cwd()) not in text and "/tmp" not in text


def test_a_short_series_gets_small_batches_and_many_steps(make_cfg) -> None:
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.training.build import fitted_batch_size

    cfg = make_cfg("data.length=150")  # ~90 training windows
    prepared = prepare_data(plain(cfg.data))
    windows = len(prepared.splits["train"].window_starts(prepared.window))
    batch = fitted_batch_size(cfg, prepared)
    assert batch == windows // cfg.fit.min_batches_per_epoch < cfg.data.batch_size
    assert -(-windows // batch) >= cfg.fit.min_batches_per_epoch
    long = prepare_data(plain(make_cfg("data.length=20000").data))
    assert fitted_batch_size(cfg, long) == cfg.data.batch_size


@pytest.fixture(scope="module")
def random_walk_fit(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, object]:
    """A short GBM (a random walk) trained in process with the default budget and fallback."""
    import json

    from stockcast.data.prepared import PreparedData
    from tests.conftest import run_train

    tmp = tmp_path_factory.mktemp("random_walk")
    run_dir = tmp / "run"
    run_train(tmp, run_dir, "data.length=300", "trainer.max_steps=400", "logger=none")
    summary = json.loads((run_dir / "metrics.json").read_text())
    return summary, run_dir / "model", PreparedData.load(run_dir / "prepared")


@pytest.mark.slow
def test_a_fit_measures_every_metric_a_sweep_can_rank_by(random_walk_fit) -> None:
    """The schema refuses any other optimized_metric before a trial trains."""
    from stockcast.config.sections import VALIDATION_METRICS

    summary, _, _ = random_walk_fit
    assert set(summary["val"]) == set(VALIDATION_METRICS)


@pytest.mark.slow
def test_a_short_series_trains_for_its_whole_step_budget_not_a_few_epochs(random_walk_fit) -> None:
    summary, _, _ = random_walk_fit
    # ~200 training windows at batch 25: an epoch budget of 50 would be ~400 steps only by luck;
    # here the budget is counted in optimizer steps (early stopping may end it sooner).
    assert summary["optimizer_steps"] >= 100
    assert summary["epochs"] > 10


@pytest.mark.slow
def test_a_random_walk_model_forecasts_close_to_the_last_price(random_walk_fit) -> None:
    from stockcast.serving.model import open_model_dir

    summary, model_dir, prepared = random_walk_fit
    test = prepared.splits["test"]
    windows = test.origins(prepared.window)
    point, bands = open_model_dir(model_dir).forecast(windows.inputs)
    last = windows.inputs[:, -1:]
    assert np.abs(point / last - 1.0).max() < 0.02, "within 2% of the last price"
    assert summary["test"]["mase"] <= summary["test"]["naive_mase"] * 1.05
    if summary["fell_back_to_naive"]:
        np.testing.assert_allclose(point, np.repeat(last, 5, axis=1), rtol=1e-6)
    lower, upper = bands["80"]
    assert np.all(lower < point) and np.all(point < upper)


def test_the_naive_fallback_zeroes_only_the_point_forecast() -> None:
    spec = {**SPEC, "mlp": {**SPEC["mlp"], "quantiles": [0.1, 0.5, 0.9]}}
    net = build_price_forecaster(spec)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.1)
        # A learned spread: the 10% output below the median's, the 90% above.
        net.core.biases[-1][..., : net.horizon] -= 0.2
        net.core.biases[-1][..., 2 * net.horizon :] += 0.2
    net.fall_back_to_naive()
    assert any(bool(param.any()) for param in net.core.parameters()), "the weights kept"
    prices = torch.tensor(random_walk(6, 7)[None, :], dtype=torch.float32)
    quantiles = net.quantile_forecast(prices)
    torch.testing.assert_close(quantiles[:, 1, :], prices[:, -1:].expand(1, 3))
    assert not torch.allclose(quantiles[:, 0, :], quantiles[:, 1, :]), "the spread survives"


def test_the_naive_fallback_of_a_diverged_network_repeats_the_last_price() -> None:
    """Weights that are no longer numbers: the zeroed output layer times a NaN hidden layer was
    still NaN, so the fallback served no forecast at all."""
    prices = torch.tensor(random_walk(6, 7)[None, :], dtype=torch.float32)
    net = build_price_forecaster(SPEC)
    with torch.no_grad():
        next(net.core.parameters()).fill_(float("nan"))
    net.fall_back_to_naive()
    assert not any(bool(param.any()) for param in net.core.parameters()), "every weight lost"
    torch.testing.assert_close(net(prices), prices[:, -1:].expand(1, net.horizon))
    # Finite weights whose hidden layers overflow: the fit's NaN forecasts say it diverged.
    net = build_price_forecaster({**SPEC, "mlp": {**SPEC["mlp"], "hidden_sizes": [8, 8]}})
    with torch.no_grad():
        for parameter in net.core.parameters():
            parameter.fill_(1e25)
    assert not torch.isfinite(net(prices)).all()
    net.fall_back_to_naive(diverged=True)
    assert not any(bool(param.any()) for param in net.core.parameters()), "every weight lost"
    torch.testing.assert_close(net(prices), prices[:, -1:].expand(1, net.horizon))


@pytest.mark.slow
def test_a_fit_that_diverges_falls_back_to_the_last_price(tmp_path: Path) -> None:
    """A learning rate of 1e8: its validation MASE is NaN, which the metrics left out, and the
    fallback's check failed on the missing key with a traceback."""
    import json

    from tests.conftest import run_train

    diverging = ("data.length=300", "trainer.max_steps=20", "logger=none", "optim.lr=1e8")
    run_train(tmp_path, tmp_path / "run", *diverging)
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["fell_back_to_naive"] is True
    assert summary["val"]["mase"] == pytest.approx(summary["val"]["naive_mase"])
    # Without the fallback no model of NaN forecasts is saved, to be blamed on its input later.
    with pytest.raises(ConfigError, match=r"^the fit diverged: its validation forecasts are not"):
        run_train(tmp_path, tmp_path / "again", *diverging, "fit.naive_fallback=false")
    assert not (tmp_path / "again" / "model").exists()


@pytest.mark.slow
@pytest.mark.parametrize("length", [400, 160])
def test_a_quantile_fits_served_bands_are_conformalized(tmp_path: Path, length: int) -> None:
    """A quantile fit records each level's conformal correction, calibrated on its validation
    windows and (a short split's) its rolling-origin folds' windows, and its served bands are
    its own quantile bands widened by them in each window's unit."""
    import json

    from stockcast.forecasting.quantiles import conformalized_bands, quantile_bands
    from stockcast.serving.model import open_model_dir
    from tests.conftest import run_train

    run_train(
        tmp_path,
        tmp_path / "run",
        f"data.length={length}",
        "trainer.max_epochs=2",
        "logger=none",
        "fit.naive_fallback=false",
        "model.quantiles=[0.025,0.1,0.5,0.9,0.975]",
    )
    folder = tmp_path / "run" / "model"
    intervals = json.loads((folder / "artifacts" / "spec.json").read_text())["intervals"]
    assert intervals["method"] == "quantile" and intervals["calibration_splits"] == ["val"]
    assert intervals["methods"]["80"] == "cqr" and "80" in intervals["corrections"]
    assert ("fold_windows" in intervals) == (length == 160)
    model = open_model_dir(folder)
    window = np.array(json.loads((folder / "input_example.json").read_text()), dtype=float)
    point, bands = model.forecast(window)
    served, quantiles = model._python_model, model._python_model.net.quantiles
    with torch.inference_mode():
        outputs = served.net.quantile_forecast(torch.tensor(window, dtype=torch.float32))
    own = quantile_bands(monotone_quantiles(outputs.double().numpy(), quantiles), quantiles)
    unit = volatility_scale(window, intervals["min_relative_scale"], **recorded_unit(intervals))
    expected = conformalized_bands(own, point, unit, intervals["corrections"])
    for level, (lower, upper) in expected.items():
        np.testing.assert_allclose(bands[level][0], lower, rtol=1e-6)
        np.testing.assert_allclose(bands[level][1], upper, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("lr", ["1e30", "1e8"])
def test_a_quantile_fit_that_falls_back_serves_calibrated_bands(tmp_path: Path, lr: str) -> None:
    """A quantile fit that falls back to the last price serves no spread of its own. At 1e30 it
    diverged and lost every weight, its spread with them: every quantile repeated the last price
    and its bands had no width. At 1e8 it did not diverge but did not beat the last price: its
    spread, learned around a median it no longer serves and checked on nothing, gave a price of
    14 an 80% upper bound of 60 million. Its bands are calibrated as a conformal model's fallback
    is, on the train and validation windows, at its quantile pairs' levels."""
    import json

    from stockcast.serving.model import open_model_dir
    from tests.conftest import run_train

    run_train(
        tmp_path,
        tmp_path / "run",
        "data.length=300",
        "trainer.max_steps=20",
        "logger=none",
        f"optim.lr={lr}",
        "model.quantiles=[0.025,0.1,0.5,0.9,0.975]",
    )
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["fell_back_to_naive"]
    folder = tmp_path / "run" / "model"
    intervals = json.loads((folder / "artifacts" / "spec.json").read_text())["intervals"]
    assert intervals["calibration_splits"] == ["train", "val"]
    assert list(intervals["bounds"]) == ["80", "95"]
    model = open_model_dir(folder)
    window = np.array(json.loads((folder / "input_example.json").read_text()), dtype=float)
    point, bands = model.forecast(window)
    np.testing.assert_allclose(point, np.repeat(window[:, -1:], point.shape[1], axis=1))
    assert list(bands) == ["80", "95"]
    (low80, up80), (low95, up95) = bands["80"], bands["95"]
    assert np.all(low95 < low80) and np.all(low80 < point)
    assert np.all(point < up80) and np.all(up80 < up95)
    assert np.all(up95 < 2 * window.max()), "a band as wide as the window's own moves, roughly"


class LastPrice(torch.nn.Module):
    """A model that repeats the last price over `horizon` steps."""

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon

    def forward(self, prices: torch.Tensor) -> torch.Tensor:
        return prices[:, -1:].expand(-1, self.horizon)


def set_quantile_moves(net: torch.nn.Module, moves: list[float]) -> None:
    """Every member's quantile outputs, in the order of the spec's quantiles, fixed at `moves`
    (in the members' units) whatever the window."""
    with torch.no_grad():
        net.core.weights[-1].zero_()
        changes = torch.tensor(moves).repeat_interleave(net.horizon)
        net.core.biases[-1].copy_(changes.reshape(net.core.biases[-1].shape))


def test_a_quantile_models_fallback_serves_the_last_price_inside_its_spread() -> None:
    """On a trend every quantile learned a rise: the fallback zeroed only the median, its 10%
    output stayed above the last price, and the served forecast (the quantiles sorted) took it
    for the point: not the last price the validation had scored."""
    spec = {**SPEC, "mlp": {**SPEC["mlp"], "quantiles": [0.1, 0.5, 0.9]}}
    net = build_price_forecaster(spec)
    steps = net.horizon
    set_quantile_moves(net, [0.5, 1.0, 1.5])  # the 10%, 50% and 90% outputs' changes
    prices = torch.tensor(random_walk(6, 7)[None, :], dtype=torch.float32)
    before = net.quantile_forecast(prices)
    assert bool((before[:, 0, :] > prices[:, -1:]).all()), "every quantile above the last price"
    net.fall_back_to_naive()
    after = net.quantile_forecast(prices).detach().double().numpy()
    last = prices[:, -1:].double().numpy()
    sorted_outputs = monotone_quantiles(after, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(sorted_outputs[:, 1, :], np.repeat(last, steps, axis=1), rtol=1e-6)
    assert (sorted_outputs[:, 0, :] < last).all() and (sorted_outputs[:, 2, :] > last).all()


def test_a_quantile_members_point_is_its_median_output_wherever_it_is_read() -> None:
    """Validation, the member weights and the fallback read a member's median output, and
    serving the median of the sorted quantiles: where a member's outputs crossed they scored
    another point than the one served (3 of 86 validation windows of a 200-step fit), and a
    model fallen back to the last price could serve another. Each member's outputs now rise
    around its median, which stays where it is."""
    spec = {**SPEC, "mlp": {**SPEC["mlp"], "quantiles": [0.5, 0.1, 0.9]}}  # in any order
    net = build_price_forecaster(spec)
    steps = net.horizon
    set_quantile_moves(net, [-1.0, 0.5, 1.5])  # the median output falls, the 10% one rises
    prices = torch.tensor(random_walk(6, 7)[None, :], dtype=torch.float32)
    last = prices[:, -1:]
    outputs = net.quantile_forecast(prices).detach()
    low, point, high = outputs[:, 1], outputs[:, 0], outputs[:, 2]
    assert bool((point < last).all()), "the median output's fall"
    torch.testing.assert_close(low, point)  # held at the median, not swapped with it
    assert bool((high > last).all())
    torch.testing.assert_close(net(prices).detach(), point)
    torch.testing.assert_close(net.member_forecasts(prices).detach().mean(0), point)
    served = monotone_quantiles(outputs.double().numpy(), net.quantiles)
    np.testing.assert_array_equal(served, outputs.double().numpy())
    net.fall_back_to_naive()
    fallen = net.quantile_forecast(prices).detach()
    torch.testing.assert_close(fallen[:, 0], last.expand(-1, steps))
    assert bool((fallen[:, 1] <= fallen[:, 0]).all() and (fallen[:, 0] <= fallen[:, 2]).all())
    # Listed out of order, two outputs below the median crossed: each quantile gets its rank's.
    spec = {**SPEC, "mlp": {**SPEC["mlp"], "quantiles": [0.5, 0.9, 0.1, 0.975, 0.025]}}
    net = build_price_forecaster(spec)
    set_quantile_moves(net, [0.0, 2.0, -1.0, 3.0, -0.5])
    moves = (net.quantile_forecast(prices).detach() - last[:, None]) / 2.0
    unit = moves[:, 1:2]  # the 0.9 output's move, 2.0 in the members' units
    expected = torch.tensor([0.0, 2.0, -0.5, 3.0, -1.0])[None, :, None] / 2.0
    torch.testing.assert_close(moves / unit, expected.expand_as(moves))


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


def test_a_quantile_models_spec_records_its_band_unit_too() -> None:
    """A quantile model's bands are its own, but evaluate scores them beside the naive
    forecast's bands, which must be measured in the same unit as a conformal model's would be:
    the last whole season of 20 here, not the 80-value window."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from stockcast.forecasting.windows import WindowSizes
    from stockcast.training.calibration import interval_spec

    cfg = OmegaConf.create({"model": {"quantiles": [0.1, 0.5, 0.9], "interval_scale_values": 10}})
    windows = np.lib.stride_tricks.sliding_window_view(random_walk(300, seed=3), 80)
    train = SimpleNamespace(origins=lambda sizes: SimpleNamespace(inputs=windows))
    held_out = rolling_origins(random_walk(140, seed=4), WindowSizes(80, 5))
    prepared = SimpleNamespace(
        window=WindowSizes(80, 5),
        meta={"season_length": 20},
        season_length=20,
        scaler={"min_relative_scale": 1e-4},
        splits={"train": train, "val": SimpleNamespace(origins=lambda sizes: held_out)},
    )
    spec = {**SPEC, "previous_time_window": 80, "next_time_window": 5}
    net = build_price_forecaster({**spec, "mlp": {**spec["mlp"], "quantiles": [0.1, 0.5, 0.9]}})
    give_outputs(net)
    with torch.no_grad():  # the 10% output below the median and the 90% one above, as trained
        net.core.biases[-1].add_(torch.tensor([-5.0, 0.0, 5.0]).repeat_interleave(5))
    cfg.data = {"eval_batch_size": 64}
    recorded = interval_spec(cfg, net, prepared)
    offsets = np.array(recorded.pop("still_quantile_offsets"))
    corrections = recorded.pop("corrections")
    assert recorded == {
        "method": "quantile",
        "bounds": {},
        "min_relative_scale": 1e-4,
        "scale_span": 20,
        "scale_drift_free": True,
        # Evaluate's naive bands give a window that did not move the train windows' unit.
        "still_unit": typical_unit(windows, 1e-4, 20),
        # Its 80% band conformalized on the 56 validation windows, in the same unit.
        "methods": {"80": "cqr"},
        "calibration_windows": 56,
        "calibration_splits": ["val"],
    }
    assert list(corrections) == ["80"] and len(corrections["80"]) == 5
    # Each quantile's typical distance from the median, below it, none, above it.
    assert offsets.shape == (3, 5) and (offsets[0] < 0).all() and (offsets[2] > 0).all()
    assert (offsets[1] == 0).all()


def test_a_zero_typical_offset_leaves_a_quantile_on_its_own_side_of_the_median() -> None:
    """A lower quantile whose typical offset is zero was pulled onto the median (the side was
    read off the offset's sign): its own band narrowed to nothing."""
    from stockcast.forecasting.quantiles import widen_still_quantiles

    outputs = np.array([[[99.0], [100.0], [101.0]]])
    halted = np.full((1, 6), 100.0)
    for offsets, expected in (
        ([[0.0], [0.0], [0.002]], [99.0, 100.0, 101.0]),
        ([[-0.02], [0.0], [0.0]], [98.0, 100.0, 101.0]),
        ([[-0.005], [0.0], [0.05]], [99.0, 100.0, 105.0]),
    ):
        widened = widen_still_quantiles(outputs, halted, 1, offsets, 1e-4, None)
        np.testing.assert_allclose(widened[0, :, 0], expected)


def test_a_quantile_models_window_of_zeros_takes_its_offsets_of_the_zero_level() -> None:
    """Shares of a last value 0 are 0: a quantile model's band at a closed store's window of
    zeros had no width. Its offsets are taken of the level where the typical share is the
    typical move (`still_move / still_unit`)."""
    from stockcast.forecasting.quantiles import still_zero_level, widen_still_quantiles

    outputs = np.array([[[0.0], [0.0], [0.0]]])
    closed = np.zeros((1, 6))
    offsets = [[-0.02], [0.0], [0.03]]
    level = still_zero_level({"still_unit": 0.01, "still_move": 2.0})
    assert level == pytest.approx(200.0)
    widened = widen_still_quantiles(outputs, closed, 1, offsets, 1e-4, None, level)
    np.testing.assert_allclose(widened[0, :, 0], [-4.0, 0.0, 6.0])
    # A price model's spec records no move: as before.
    assert still_zero_level({"still_unit": 0.01}) is None
    unchanged = widen_still_quantiles(outputs, closed, 1, offsets, 1e-4, None)
    np.testing.assert_allclose(unchanged[0, :, 0], [0.0, 0.0, 0.0])


def test_a_quantile_models_window_that_did_not_move_gets_the_typical_spread(
    tmp_path: Path,
) -> None:
    """Its network sees a halted ticker at the scale floor (a ten-thousandth of its price), so
    its own 80% band was about that wide: 99.995 to 100.005 for a stock at 100."""
    from stockcast.serving.model import open_model_dir
    from stockcast.training.export import save_model_dir

    spec = {**SPEC, "num_threads": 1, "mlp": {**SPEC["mlp"], "quantiles": [0.1, 0.5, 0.9]}}
    net = build_price_forecaster(spec)
    give_outputs(net)
    moving = np.lib.stride_tricks.sliding_window_view(random_walk(200, seed=5), 6)
    outputs = monotone_quantiles(
        net.quantile_forecast(torch.tensor(moving, dtype=torch.float32)).detach().double().numpy(),
        [0.1, 0.5, 0.9],
    )
    offsets = quantile_offsets(outputs, moving, 1, 1e-4, None)
    metadata = {"kind": "stockcast.model", "previous_time_window": 6, "next_time_window": 3}
    served = {}
    for name, still in (("own", {}), ("widened", {"still_quantile_offsets": offsets})):
        intervals = {"method": "quantile", "bounds": {}, "min_relative_scale": 1e-4, **still}
        folder = tmp_path / name
        save_model_dir(net, {**spec, "intervals": intervals}, folder, metadata, moving[0])
        served[name] = open_model_dir(folder)
    halted = np.full((1, 6), 100.0)
    (lower, upper) = served["own"].forecast(halted)[1]["80"]
    assert np.all(upper - lower < 0.05), "the floor's band: a few hundredths of a point"
    own_point, own_bands = served["own"].forecast(halted)
    point, bands = served["widened"].forecast(halted)
    lower, upper = bands["80"]
    np.testing.assert_array_equal(point, own_point)
    # Each quantile at least its typical distance from the median, on its own side of it.
    typical_lower, typical_upper = (100.0 * np.array(offsets[i])[None] for i in (0, 2))
    own_lower, own_upper = (own_bands["80"][i] - own_point for i in (0, 1))
    np.testing.assert_allclose(lower - point, np.minimum(own_lower, typical_lower), rtol=1e-5)
    np.testing.assert_allclose(upper - point, np.maximum(own_upper, typical_upper), rtol=1e-5)
    assert np.all(upper - lower >= typical_upper - typical_lower - 1e-9)
    # A window that moved is answered as before, to the bit.
    for own, widened in zip(
        served["own"].forecast(moving[:20]), served["widened"].forecast(moving[:20]), strict=True
    ):
        if isinstance(own, dict):
            for level in own:
                np.testing.assert_array_equal(own[level], widened[level])
        else:
            np.testing.assert_array_equal(own, widened)


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


def test_the_student_t_growth_over_the_steps_is_the_seasonal_naives_on_seasonal_data() -> None:
    """The naive forecast's error on a monthly series swings with the season, widest half a
    season ahead; the seasonal naive's is the season-ago value's error at every step up to a
    season. Where the window holds no whole season, or the seasonal naive errs more (a random
    walk on business days, whose dates give it a season of 5), the naive one's is taken."""
    from stockcast.forecasting.conformal import baseline_spread_profile

    rng = np.random.default_rng(4)
    values = 100 + 10 * np.sin(2 * np.pi * np.arange(400) / 12) + rng.normal(size=400)
    history = rolling_origins(values, WindowSizes(24, 12))
    naive = baseline_spread_profile(history, 1, MIN_RELATIVE_SCALE)
    seasonal = baseline_spread_profile(history, 12, MIN_RELATIVE_SCALE)
    assert naive is not None and seasonal is not None
    assert naive[5] > 3 * naive[0] and naive[5] > 3 * naive[11]
    assert seasonal.max() < 1.25 * seasonal.min()
    short = rolling_origins(values, WindowSizes(10, 12))
    np.testing.assert_array_equal(
        baseline_spread_profile(short, 12, MIN_RELATIVE_SCALE),
        baseline_spread_profile(short, 1, MIN_RELATIVE_SCALE),
    )
    assert (
        baseline_spread_profile(
            rolling_origins(values[:37], WindowSizes(24, 12)), 12, MIN_RELATIVE_SCALE
        )
        is None
    )
    # Business days give daily prices a season of 5, where the seasonal naive is no baseline.
    walk = rolling_origins(100 + rng.normal(size=400).cumsum(), WindowSizes(10, 5))
    np.testing.assert_array_equal(
        baseline_spread_profile(walk, 5, MIN_RELATIVE_SCALE),
        baseline_spread_profile(walk, 1, MIN_RELATIVE_SCALE),
    )


def test_a_trend_does_not_hand_a_quarterly_band_the_naive_forecasts_zig_zag() -> None:
    """A trending quarterly series: the seasonal naive's errors are biased by a year's trend
    (a larger mean error) but spread evenly; chosen by mean error, the naive one's seasonal
    zig-zag made a 95% band three times wider every other step."""
    from stockcast.forecasting.conformal import baseline_spread_profile

    rng = np.random.default_rng(7)
    steps = np.arange(120)
    season = np.array([5.0, -2.0, -6.0, 3.0])
    values = 50 + 4 * steps + season[steps % 4] + rng.normal(size=120)
    history = rolling_origins(values, WindowSizes(16, 5))
    scale = volatility_scale(history.inputs, MIN_RELATIVE_SCALE)
    naive_errors = history.actual - np.repeat(history.inputs[:, -1:], 5, axis=1)
    seasonal_errors = history.actual - history.inputs[:, [-4, -3, -2, -1, -4]]
    assert np.abs(seasonal_errors / scale).mean() > np.abs(naive_errors / scale).mean()
    profile = baseline_spread_profile(history, 4, MIN_RELATIVE_SCALE)
    assert profile is not None and profile.max() < 2 * profile.min()
    zig_zag = baseline_spread_profile(history, 1, MIN_RELATIVE_SCALE)
    assert zig_zag is not None and zig_zag.max() > 3 * zig_zag.min()


def test_a_seasonal_models_student_t_band_covers_alike_at_every_step() -> None:
    """A monthly series whose model forecasts the season, 36 calibration windows, horizon 12:
    too few for a split-conformal 95% band. Its Student-t band took its growth over the steps
    from the naive forecast's errors on the train split, which follow the season: it covered
    1.00 half a season ahead and 0.95 a whole season ahead. With the seasonal naive's, every
    step covers alike."""
    from stockcast.forecasting.conformal import baseline_spread_profile

    rng = np.random.default_rng(12)
    p, h, season, windows, train = 36, 12, 12, 36, 150
    cut = train + p + h + windows - 1
    total = cut + 300
    pattern = 10 * np.sin(2 * np.pi * np.arange(total) / season)

    def forecast(origins: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """The last value less its season, plus the season ahead."""
        level = inputs[:, -1] - pattern[origins - 1]
        return level[:, None] + pattern[origins[:, None] + np.arange(h)]

    covered = []
    for _ in range(150):
        values = 100 + 0.3 * rng.normal(size=total).cumsum() + pattern + 2 * rng.normal(size=total)
        history = rolling_origins(values[:train], WindowSizes(p, h))
        calibration = rolling_origins(values[train:cut], WindowSizes(p, h))
        fresh = rolling_origins(values[cut:], WindowSizes(p, h))
        origins = train + p + np.arange(len(calibration))
        bounds = calibrate_intervals(
            calibration.inputs,
            forecast(origins, calibration.inputs),
            calibration.actual,
            [80, 95],
            MIN_RELATIVE_SCALE,
            baseline_spread_profile(history, season, MIN_RELATIVE_SCALE),
        )
        bands = apply_intervals(
            forecast(cut + p + np.arange(len(fresh)), fresh.inputs),
            volatility_scale(fresh.inputs, min_relative_scale=MIN_RELATIVE_SCALE),
            bounds,
        )
        lower, upper = bands["95"]
        covered.append(((fresh.actual >= lower) & (fresh.actual <= upper)).mean(axis=0))
    by_step = np.mean(covered, axis=0)
    assert by_step.min() >= 0.93 and by_step.max() <= 0.98
    assert by_step.max() - by_step.min() < 0.02


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


# Student's t quantiles from printed tables (four decimals): (probability, degrees of freedom).
T_TABLE = {
    (0.975, 1): 12.7062,
    (0.975, 2): 4.3027,
    (0.975, 3): 3.1824,
    (0.9, 1): 3.0777,
    (0.9, 2): 1.8856,
    (0.95, 5): 2.0150,
    (0.975, 10): 2.2281,
    (0.995, 4): 4.6041,
    (0.9, 38): 1.3042,
}


@pytest.mark.parametrize(("probability", "dof"), list(T_TABLE))
def test_the_t_quantile_is_the_tables_even_at_one_degree_of_freedom(
    probability: float, dof: int
) -> None:
    """Two calibration windows give one degree of freedom, where a normal-based expansion fell
    24% short at 95% (9.71 against 12.71)."""
    assert student_t_quantile(probability, dof) == pytest.approx(
        T_TABLE[probability, dof], abs=5e-5
    )
    assert student_t_quantile(1 - probability, dof) == -student_t_quantile(probability, dof)
    # The median, the one probability that is its own mirror, is 0 (and answered, not mirrored
    # for ever).
    assert student_t_quantile(0.5, dof) == pytest.approx(0.0, abs=1e-12)


def test_the_t_quantile_matches_scipy_to_float_precision() -> None:
    stats = pytest.importorskip("scipy.stats")
    for probability in (0.55, 0.8, 0.9, 0.95, 0.975, 0.995, 0.025):
        for dof in range(1, 60):
            assert student_t_quantile(probability, dof) == pytest.approx(
                stats.t.ppf(probability, dof), rel=1e-12
            )


def test_the_t_quantile_of_many_windows_is_its_expansion_and_as_exact() -> None:
    """Past `EXPANSION_DOF` the quantile is the normal one's expansion, not a sum with a term per
    window (seconds at 400,000): it must meet the bisection where they hand over, and scipy far
    beyond."""
    from stockcast.forecasting.student_t import (
        EXPANSION_DOF,
        _central_t_probability,
        _t_quantile_expansion,
    )

    for dof in (EXPANSION_DOF, 400_000):
        assert student_t_quantile(0.975, dof) == _t_quantile_expansion(0.975, dof)

    for probability in (0.55, 0.9, 0.975, 0.995):
        expanded = student_t_quantile(probability, EXPANSION_DOF)
        # The bisection's own answer at that dof: its central probability matches to 1e-13.
        angle = math.atan(expanded / math.sqrt(EXPANSION_DOF))
        assert _central_t_probability(angle, EXPANSION_DOF) == pytest.approx(
            2 * probability - 1, abs=1e-13
        )
        below = student_t_quantile(probability, EXPANSION_DOF - 1)
        assert below > expanded, "the quantile still falls with the degrees of freedom"
    stats = pytest.importorskip("scipy.stats")
    for dof in (EXPANSION_DOF, 10_000, 400_000):
        for probability in (0.025, 0.9, 0.975, 0.9995):
            assert student_t_quantile(probability, dof) == pytest.approx(
                stats.t.ppf(probability, dof), rel=1e-12
            )


@pytest.mark.parametrize(("probability", "dof"), list(T_TABLE))
def test_the_t_tail_beyond_a_tables_quantile_is_its_probability(
    probability: float, dof: int
) -> None:
    tail = 2 * (1 - probability)
    assert student_t_two_sided_p(T_TABLE[probability, dof], dof) == pytest.approx(tail, rel=1e-3)
    assert student_t_two_sided_p(-T_TABLE[probability, dof], dof) == pytest.approx(tail, rel=1e-3)


def test_the_t_tail_matches_scipy_and_the_normal_past_the_expansion() -> None:
    stats = pytest.importorskip("scipy.stats")
    from stockcast.forecasting.student_t import EXPANSION_DOF

    for dof in (1, 2, 3, 4, 5, 10, 37, 200, EXPANSION_DOF - 1):
        for statistic in (0.0, 0.3, 1.0, 2.0, 3.5, 6.0):
            assert student_t_two_sided_p(statistic, dof) == pytest.approx(
                2 * stats.t.sf(statistic, dof), rel=1e-9, abs=1e-14
            )
    for statistic in (1.0, 2.0, 3.0):
        assert student_t_two_sided_p(statistic, EXPANSION_DOF) == pytest.approx(
            2 * stats.t.sf(statistic, EXPANSION_DOF), rel=0.03
        )
    assert math.isnan(student_t_two_sided_p(float("nan"), 5))
    assert student_t_two_sided_p(float("inf"), 5) == 0.0
    with pytest.raises(ValueError, match="at least 1 degree"):
        student_t_two_sided_p(1.0, 0)


@pytest.mark.parametrize(
    ("probability", "dof", "message"),
    [(1.0, 3, "a probability in"), (0.0, 3, "a probability in"), (0.9, 0, "at least 1 degree")],
)
def test_the_t_quantile_refuses_what_has_none(probability: float, dof: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        student_t_quantile(probability, dof)


def test_a_student_t_bound_is_the_prediction_intervals_to_the_digit() -> None:
    """t(1 - alpha / 2, n - 1) x sqrt(1 + 1 / n) x the errors' root mean square, times the
    profile: five unit errors at 95% give 2.776 x sqrt(1.2) = 3.041, at 80% 1.533 x sqrt(1.2)."""
    errors = np.ones((5, 2))
    profile = np.array([1.0, 2.0])
    np.testing.assert_allclose(
        student_t_half_widths(errors * profile, 95, profile), [3.0414, 6.0828], atol=1e-4
    )
    np.testing.assert_allclose(student_t_half_widths(errors, 80, np.ones(2)), 1.6796, atol=1e-4)


def test_the_naive_bands_of_a_window_that_did_not_move_take_the_still_unit() -> None:
    """The report scores the naive forecast's bands beside the model's, in the model's units:
    a halted window's unit is the typical one (`still_unit`), not the scale floor's."""
    history = rolling_origins(random_walk(300, seed=2), WindowSizes(6, 3))
    halted = np.full((1, 6), 100.0)
    floor = random_walk_bands(history, halted, [80], 1e-4)
    still = random_walk_bands(history, halted, [80], 1e-4, still_unit=0.01)
    floor_width = floor["80"][1] - floor["80"][0]
    still_width = still["80"][1] - still["80"][0]
    # The unit is a share of the last price: the floor's 1e-4 of it, or the typical 1%.
    np.testing.assert_allclose(still_width, floor_width * 0.01 / 1e-4, rtol=1e-6)
    # Calibrated and applied in the same unit, over the model's span (3 values here).
    last = history.inputs[-1:]
    bounds = calibrate_intervals(
        history.inputs, naive_forecast(history.inputs, 3), history.actual, [80], 1e-4, span=3
    )
    expected = apply_intervals(naive_forecast(last, 3), volatility_scale(last, 1e-4, 3), bounds)
    spanned = random_walk_bands(history, last, [80], 1e-4, span=3)
    np.testing.assert_allclose(spanned["80"][1], expected["80"][1])
    assert not np.allclose(spanned["80"][1], random_walk_bands(history, last, [80], 1e-4)["80"][1])


def test_a_window_ending_at_zero_gives_no_typical_unit() -> None:
    """The typical unit is a share of each window's last price: a rate that ends a window at 0
    has none to give, and is left out rather than making the median infinite."""
    moving = np.array([[1.0, 2.0, 1.0, 2.0], [1.0, -1.0, 2.0, 0.0]])
    unit = typical_unit(moving, 1e-4, None)
    assert unit is not None and np.isfinite(unit)
    assert unit == pytest.approx(typical_unit(moving[:1], 1e-4, None))


def test_a_baseline_profile_with_a_step_that_never_varies_is_no_profile() -> None:
    """A step whose scaled errors are all alike has no spread to shape a band by: a profile of
    zero there would give that step a zero-width Student-t band."""
    pattern = np.array([100.0, 101.0, 99.0, 102.0, 100.0, 103.0])
    inputs = pattern[None] + 10.0 * np.arange(8)[:, None]  # the same moves, other levels
    rng = np.random.default_rng(0)
    actual = inputs[:, -1:] + np.column_stack([np.ones(8), rng.normal(0.0, 2.0, (8, 2))])
    history = RollingOrigins(np.arange(8) + 6, inputs, actual)
    assert baseline_spread_profile(history, 1, 1e-4) is None
    actual[:, 0] += rng.normal(0.0, 1.0, 8)
    profile = baseline_spread_profile(RollingOrigins(np.arange(8) + 6, inputs, actual), 1, 1e-4)
    assert profile is not None and np.all(profile > 0)


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


def test_a_band_scale_spans_at_least_two_changes() -> None:
    """The drift-free unit measures each change from their mean, and a single change is its own
    mean: a span of two values (model.interval_scale_values=2 without a season) gave every
    window the floor, so a calm window and a wild one got one band. However few values are
    asked for, the span holds two changes where the window does."""
    assert band_scale_span(10, 1, 1) == 3
    assert band_scale_span(10, 1, 2) == 3
    assert band_scale_span(10, 2, 2) == 4  # whole seasons
    assert band_scale_span(2, 1, 10) == 2  # at most the window
    calm, wild = [99.0, 99.6, 99.4], [90.0, 110.0, 100.0]
    scale = volatility_scale(np.array([calm, wild]), MIN_RELATIVE_SCALE, band_scale_span(10, 1, 2))
    np.testing.assert_allclose(scale[:, 0], [0.4, 15.0])
    # A window of two values has a single change: its unit is that change's size, not the floor.
    two = np.array([[100.0, 103.0], [100.0, 99.0]])
    np.testing.assert_allclose(volatility_scale(two, MIN_RELATIVE_SCALE, 2)[:, 0], [3.0, 1.0])


def test_the_t_quantile_expansion_is_exact_where_it_takes_over_from_the_bisection() -> None:
    """At `EXPANSION_DOF` the fourth Cornish-Fisher term is 1e-14 to 1e-12 of the quantile: with it
    right, the expansion meets scipy to a few parts in 1e16 there, as the bisection does below."""
    stats = pytest.importorskip("scipy.stats")
    from stockcast.forecasting.student_t import EXPANSION_DOF

    for probability in (0.55, 0.9, 0.975):
        assert student_t_quantile(probability, EXPANSION_DOF) == pytest.approx(
            stats.t.ppf(probability, EXPANSION_DOF), rel=3e-15, abs=0
        )
