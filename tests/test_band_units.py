"""The band unit: each window's recent volatility, the typical move where a window did not
move, the price unit at any scale, and the unit a spec records and serves in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.conformal import (
    baseline_spread_profile,
    calibrate_intervals,
    conformal_half_widths,
    random_walk_bands,
)
from stockcast.forecasting.intervals import (
    apply_intervals,
    band_scale_span,
    recorded_unit,
    typical_move,
    typical_unit,
    unit_record,
    volatility_scale,
)
from stockcast.forecasting.quantiles import monotone_quantiles, quantile_offsets
from stockcast.forecasting.windows import RollingOrigins, WindowSizes, rolling_origins
from stockcast.models.spec import build_price_forecaster
from tests.conftest import give_outputs
from tests.interval_helpers import MIN_RELATIVE_SCALE, SPEC, random_walk


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
