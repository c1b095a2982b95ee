"""A panel's members are weighed on errors in each series' own units, not in prices, so the
series with the highest prices does not decide the weights for all."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
from omegaconf import OmegaConf

from stockcast.data.mase_scales import series_of_windows, series_scales
from stockcast.data.scaling import fit_scaler
from stockcast.data.series import Series
from stockcast.data.split import split_series
from stockcast.forecasting.metrics import inverse_mse_weights
from stockcast.forecasting.windows import WindowSizes
from stockcast.training import folds as fold_module
from stockcast.training import member_weights, naive_fallback, validation
from stockcast.training.evaluated_recipe import FitSchedule
from stockcast.training.fixed_steps import FixedStepFit
from stockcast.training.folds import FoldEvidence, fold_evidence

SIZES = WindowSizes(10, 5)
FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
# data.eval_batch_size: held-out windows forecast at a time.
EVAL_BATCH_SIZE = 4096
# Fewer than a fold's windows.
FOLD_BATCH_SIZE = 5
# Each member's error on each series, in that series' one-step naive MAE: member 0 is the better
# one on the high-priced series, member 1 on the low-priced one, and on both together.
ERRORS = {"big": (1.0, 2.0), "small": (4.0, 1.0)}


def walk(start: float, step: float, seed: int) -> np.ndarray:
    """Every move exactly `step` up or down: the train one-step naive MAE is `step`."""
    moves = np.random.default_rng(seed).choice([-1.0, 1.0], size=199)
    return start + step * np.concatenate([[0.0], np.cumsum(moves)])


class TwoMembers:
    """What `fit_member_weights` asks of a network: two members, neither reading the level."""

    core = SimpleNamespace(members=2)

    def __init__(self) -> None:
        self.weights: list[float] | None = None

    def set_member_weights(self, weights: list[float] | None) -> None:
        self.weights = weights

    def level_reading_members(self) -> list[bool]:
        return [False, False]

    def level_set_aside(self, prices) -> None:
        return None  # neither member reads the level


@pytest.fixture
def panel() -> SimpleNamespace:
    series = [Series("big", walk(10_000.0, 100.0, 1)), Series("small", walk(10.0, 0.1, 2))]
    return SimpleNamespace(splits=split_series(series, SIZES, FRACTIONS), window=SIZES)


def member_forecasts(split, windows, scales) -> np.ndarray:
    owner = series_of_windows(split, windows.origins)
    errors = np.array([[ERRORS[split.series_ids[s]][m] for s in owner] for m in range(2)])
    return windows.actual[None] + (errors * scales[owner])[:, :, None]


def test_a_panel_is_weighed_in_each_series_own_units(panel, monkeypatch) -> None:
    scales = series_scales(panel.splits["train"])
    np.testing.assert_allclose(scales, [100.0, 0.1])
    windows = panel.splits["val"].origins(SIZES)
    forecasts = member_forecasts(panel.splits["val"], windows, scales)
    monkeypatch.setattr(
        member_weights, "validation_forecasts", lambda *a, **k: (windows, forecasts)
    )
    cfg = OmegaConf.create(
        {
            "model": {"combination": "inverse_mse", "combination_power": 4.0},
            "data": {"eval_batch_size": EVAL_BATCH_SIZE},
        }
    )
    net = TwoMembers()
    record = member_weights.fit_member_weights(cfg, net, panel, ["a", "b"])
    # In prices member 0 wins (the high-priced series' errors are all that count there); in each
    # series' units member 1 does: its mean squared error is 2.5 against member 0's 8.5.
    in_prices = inverse_mse_weights(forecasts, windows.actual, 4.0)
    assert in_prices[0] > 0.99
    expected = np.array([2.5, 8.5]) ** 4 / (2.5**4 + 8.5**4)
    np.testing.assert_allclose(record["weights"], expected)
    assert net.weights == record["weights"]
    scaled = [m["scaled_mse"] for m in record["members"]]
    np.testing.assert_allclose(scaled, [8.5, 2.5])
    # validation_mse stays in prices, as the evaluation reports it.
    assert record["members"][0]["validation_mse"] < record["members"][1]["validation_mse"]


def test_a_single_series_weights_are_its_errors_in_prices(panel, monkeypatch) -> None:
    """One scale cancels: the weights are the price errors' own."""
    big = SimpleNamespace(
        splits=split_series([Series("big", walk(10_000.0, 100.0, 1))], SIZES, FRACTIONS),
        window=SIZES,
    )
    windows = big.splits["val"].origins(SIZES)
    forecasts = member_forecasts(big.splits["val"], windows, np.array([100.0]))
    monkeypatch.setattr(
        member_weights, "validation_forecasts", lambda *a, **k: (windows, forecasts)
    )
    cfg = OmegaConf.create(
        {
            "model": {"combination": "inverse_mse", "combination_power": 4.0},
            "data": {"eval_batch_size": EVAL_BATCH_SIZE},
        }
    )
    record = member_weights.fit_member_weights(cfg, TwoMembers(), big, ["a", "b"])
    np.testing.assert_allclose(
        record["weights"], inverse_mse_weights(forecasts, windows.actual, 4.0), rtol=1e-12
    )


def test_fold_windows_are_scaled_by_their_own_series(panel) -> None:
    windows = panel.splits["val"].origins(SIZES)
    folds = FoldEvidence(
        np.zeros((3, 10)), np.zeros((3, 5)), np.zeros((1, 3, 5)), 1, np.array([1, 0, 1])
    )
    scales = validation.window_scales(panel, windows, folds)
    owner = series_of_windows(panel.splits["val"], windows.origins)
    np.testing.assert_allclose(scales[: len(windows)], np.where(owner == 0, 100.0, 0.1))
    np.testing.assert_allclose(scales[len(windows) :], [0.1, 100.0, 0.1])


@dataclass(frozen=True)
class Panel:
    """The fields of PreparedData that the folds read (they copy it with `replace`, scaled by
    each fold's own train part)."""

    splits: dict
    window: WindowSizes
    scaler: dict


class LastValue:
    """A fitted fold's network, as the folds use it: one member repeating each window's last
    value."""

    def eval(self) -> LastValue:
        return self

    def member_forecasts(self, inputs):
        return inputs[None, :, -1:].repeat(1, 1, SIZES.next_time_window)

    core = SimpleNamespace(members=1)
    quantiles = ()  # a point forecast only

    def level_set_aside(self, inputs):
        return None  # its one member reads no level


def test_fold_windows_carry_the_series_they_come_from(monkeypatch) -> None:
    """Three series of different lengths and price ranges: every fold window's series index
    is the series its inputs were cut from."""
    series = [
        Series("a", walk(100.0, 1.0, 3)[:150]),
        Series("b", walk(10_000.0, 10.0, 4)),
        Series("c", walk(10.0, 0.01, 5)[:170]),
    ]
    splits = split_series(series, SIZES, {"train": 0.7, "val": 0.15, "test": 0.15})
    panel = Panel(splits, SIZES, fit_scaler(["per_window"], splits["train"].values, 1e-4))
    forecast_sizes: list[int] = []

    class Recorded(LastValue):
        def member_forecasts(self, inputs):
            forecast_sizes.append(len(inputs))
            return super().member_forecasts(inputs)

    fitted = FixedStepFit(Recorded(), {}, None, 0)
    monkeypatch.setattr(fold_module, "refit_network", lambda *args: fitted)
    cfg = OmegaConf.create(
        {
            "fit": {
                "folds": 3,
                "folds_below_windows": 1000,
                "fold_min_train_share": 0.5,
                "folds_beside": False,
            },
            "trainer": {"devices": 1},
            "data": {"eval_batch_size": FOLD_BATCH_SIZE},
        }
    )
    evidence = fold_evidence(cfg, panel, FitSchedule(1, 8))
    assert evidence.folds >= 2 and sorted(set(evidence.series.tolist())) == [0, 1, 2]
    # Each fold's windows are forecast data.eval_batch_size at a time.
    assert max(forecast_sizes) == FOLD_BATCH_SIZE < len(evidence)
    for index, item in enumerate(series):
        inputs = evidence.inputs[evidence.series == index]
        assert ((inputs >= item.values.min()) & (inputs <= item.values.max())).all()
    scales = validation.window_scales(panel, splits["val"].origins(SIZES), evidence)
    np.testing.assert_allclose(
        scales[-len(evidence) :], series_scales(splits["train"])[evidence.series]
    )


def test_a_panel_falls_back_when_the_model_loses_in_each_series_units(panel, monkeypatch) -> None:
    """The model halves the naive error on the high-priced series and quadruples it on the
    low-priced one: in prices it wins (what the pooled validation MASE says), in each series'
    units it loses, and a panel falls back."""
    windows = panel.splits["val"].origins(SIZES)
    scales = series_scales(panel.splits["train"])
    owner = series_of_windows(panel.splits["val"], windows.origins)
    step = scales[owner][:, None]
    actual = windows.inputs[:, -1:] + step  # the last price misses by one unit at every step
    gain = np.where(owner == 0, 0.5, 4.0)[:, None]
    forecast = actual + gain * step

    def held_out(*args: object, **kwargs: object) -> tuple[np.ndarray, ...]:
        return windows.inputs, forecast, actual  # the forecast as it stands at the call

    monkeypatch.setattr(naive_fallback, "held_out_forecasts", held_out)
    cfg = OmegaConf.create(
        {
            "fit": {
                "naive_fallback": True,
                "min_gain_over_naive": 0.05,
                "max_p_value_vs_naive": None,
            },
            "data": {"eval_batch_size": EVAL_BATCH_SIZE},
        }
    )
    net = SimpleNamespace(anchored=True)
    in_prices = np.abs(forecast - actual).mean() / np.abs(windows.inputs[:, -1:] - actual).mean()
    assert in_prices < 0.6
    val = {"mase": in_prices, "naive_mase": 1.0}
    assert naive_fallback.falls_back_to_naive(cfg, net, val, panel)
    # Worse than the last price on the high-priced series (1.5 units), far better on the other
    # (0.1): in prices it loses, in each series' units it wins (0.8 of naive's error), and stays.
    forecast = actual + np.where(owner == 0, 1.5, 0.1)[:, None] * step
    assert not naive_fallback.falls_back_to_naive(cfg, net, {"mase": 1.5, "naive_mase": 1.0}, panel)
