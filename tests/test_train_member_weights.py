"""A fit whose best checkpoint is not its last: its members' weights, bands and naive fallback
score the weighted forecast, and the weights are fitted on the windows every member serves."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from stockcast.data.prepared import PreparedData
from stockcast.data.split import share_outside_range
from stockcast.forecasting.conformal import baseline_spread_profile, calibrate_intervals
from stockcast.forecasting.intervals import band_scale_span, volatility_scale
from stockcast.forecasting.metrics import inverse_mse_weights, pooled_errors
from stockcast.models.spec import build_price_forecaster, saved_forecaster
from stockcast.serving.model import open_model_dir
from stockcast.training import naive_fallback, validation
from stockcast.training.batched import forward_in_batches
from stockcast.training.member_weights import fit_member_weights
from stockcast.training.module import Forecaster
from stockcast.training.validation import validation_forecasts
from tests.conftest import AS_OF, give_outputs, global_state_restored, run_train, seed_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def weighted_run(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> Path:
    """A fit that keeps its network (seasonal data) and whose best checkpoint is not its last:
    its forecasts depend on member weights fitted on the best checkpoint's members."""
    tmp = seed_store(store_template, tmp_path_factory.mktemp("weighted"))
    run_dir = tmp / "run"
    with global_state_restored():
        run_train(tmp, run_dir, *WEIGHTED_OVERRIDES)
    return run_dir


WEIGHTED_OVERRIDES = (
    "experiment=mlp_seasonal",
    "data.length=400",
    AS_OF,
    "trainer.max_steps=300",
    "logger=none",
)


def test_validation_fallback_and_bands_score_the_weighted_forecast(weighted_run: Path) -> None:
    summary = json.loads((weighted_run / "metrics.json").read_text())
    assert not summary["fell_back_to_naive"]
    assert summary["best_step"] < summary["optimizer_steps"], "the best checkpoint is not the last"
    spec = json.loads((weighted_run / "model" / "artifacts" / "spec.json").read_text())
    prepared = PreparedData.load(weighted_run / "prepared")
    checkpoint = torch.load(
        weighted_run / summary["best_checkpoint"], map_location="cpu", weights_only=False
    )
    assert summary["best_step"] == checkpoint["global_step"], "the budget a refit repeats"
    module = Forecaster(build_price_forecaster(spec), torch.nn.MSELoss(), torch.optim.Adam)
    module.load_state_dict(checkpoint["state_dict"])
    # The members are combined with inverse-MSE weights fitted on the best checkpoint's errors
    # over every validation window (the windows the conformal bands are calibrated on).
    windows, members = validation_forecasts(module.net, prepared, batch_size=None, members=True)
    combination = spec["combination"]
    assert combination["validation_windows"] == len(windows)
    assert combination["validation_windows"] == spec["intervals"]["calibration_windows"]
    weights = inverse_mse_weights(members, windows.actual, combination["power"])
    np.testing.assert_allclose(combination["weights"], weights, rtol=1e-6)
    assert len(weights) == 3 and not np.allclose(weights, 1 / 3)
    weighted = np.tensordot(weights, members, axes=1)

    def mase(forecast: np.ndarray) -> float:
        return pooled_errors(forecast, windows.actual, prepared.mase_scale)["mase"]

    # The recorded validation MASE (what the fallback compares with naive's) is the weighted
    # forecast's, measurably not the plain mean's.
    assert summary["val"]["mase"] == pytest.approx(mase(weighted), rel=1e-5)
    assert abs(mase(members.mean(0)) - mase(weighted)) > 1e-4
    # The bands are calibrated on the weighted forecast's errors.
    min_relative_scale = float(spec["intervals"]["min_relative_scale"])
    span = spec["intervals"]["scale_span"]
    season = int(prepared.meta["season_length"] or 1)
    assert span == band_scale_span(prepared.window.previous_time_window, season, 10)
    train_windows = prepared.splits["train"].origins(prepared.window)
    bounds = calibrate_intervals(
        windows.inputs,
        weighted,
        windows.actual,
        [80, 95],
        min_relative_scale,
        baseline_spread_profile(train_windows, season, min_relative_scale, span),
        span,
    )
    for level, expected in bounds.items():
        np.testing.assert_allclose(spec["intervals"]["bounds"][level], expected, rtol=1e-4)


def test_a_model_saved_before_the_drift_free_band_unit_keeps_its_own(
    weighted_run: Path, tmp_path: Path
) -> None:
    """Bounds calibrated in the mean absolute change stay in it: a spec without
    `scale_drift_free` is served in the unit it was calibrated in, so its bands keep their
    width on trending windows, where the drift-free unit is narrower."""
    old = tmp_path / "model"
    shutil.copytree(weighted_run / "model", old)
    spec_file = old / "artifacts" / "spec.json"
    spec = json.loads(spec_file.read_text())
    assert spec["intervals"]["scale_drift_free"] is True
    del spec["intervals"]["scale_drift_free"]
    spec_file.write_text(json.dumps(spec))
    p = spec["previous_time_window"]
    noise = np.random.default_rng(0).normal(size=(3, p))
    windows = 100 + 2.0 * np.arange(p) + np.cumsum(noise, axis=1)
    point, bands = open_model_dir(weighted_run / "model").forecast(windows)
    old_point, old_bands = open_model_dir(old).forecast(windows)
    np.testing.assert_array_equal(point, old_point)
    unit = {"span": spec["intervals"]["scale_span"]}
    unit["min_relative_scale"] = spec["intervals"]["min_relative_scale"]
    ratio = volatility_scale(windows, drift_free=False, **unit) / volatility_scale(windows, **unit)
    assert (ratio > 1.2).all()
    for level, (_, upper) in bands.items():
        np.testing.assert_allclose(old_bands[level][1] - point, (upper - point) * ratio, rtol=1e-6)


def test_a_window_moved_past_the_fitted_levels_is_forecast_by_its_shape(
    weighted_run: Path,
) -> None:
    """The standard and per_window_level members learned the levels of the train split: a
    served window mostly outside them is forecast by the per_window member alone, which reads
    the window's shape, so moved twice as far its forecast and bands move with it. Inside the
    range every member counts, and the level members' view of the level moves the forecast."""
    prepared = PreparedData.load(weighted_run / "prepared")
    train = prepared.splits["train"].values
    spec = json.loads((weighted_run / "model" / "artifacts" / "spec.json").read_text())
    assert spec["level_range"] == {
        "low": float(train.min()),
        "high": float(train.max()),
        "max_outside": 0.5,
    }
    assert min(spec["combination"]["weights"]) > 0.05
    window = prepared.splits["test"].origins(prepared.window).inputs[-1:]
    span = float(train.max() - train.min())
    model = open_model_dir(weighted_run / "model")

    def moved_back(shift: float) -> np.ndarray:
        return model.frame(window + shift).to_numpy() - shift

    np.testing.assert_allclose(moved_back(3 * span), moved_back(6 * span), rtol=1e-5)
    assert not np.allclose(moved_back(0.0), moved_back(3 * span), rtol=1e-3)
    assert not np.allclose(moved_back(-0.1 * span), moved_back(0.0), rtol=1e-5)


NAMES = ["per_window", "standard", "per_window_level"]


# Fewer than the validation windows: the members' weights come from them a batch at a time.
EVAL_BATCH_SIZE = 7


def test_held_out_windows_forecast_a_batch_at_a_time_as_all_at_once(
    weighted_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held-out windows forecast `data.eval_batch_size` at a time are the same forecasts, in the
    same order, and the member weights and the naive fallback ask for that size (the folds':
    test_panel_weights)."""
    prepared = PreparedData.load(weighted_run / "prepared")
    net = build_price_forecaster(
        json.loads((weighted_run / "model" / "artifacts" / "spec.json").read_text())
    )
    give_outputs(net)
    net.eval()
    inputs = prepared.splits["val"].origins(prepared.window).inputs
    assert len(inputs) > 2 * EVAL_BATCH_SIZE
    for forward, axis in ((net, 0), (net.member_forecasts, 1), (net.quantile_forecast, 0)):
        whole = forward_in_batches(forward, inputs, None, windows_axis=axis)
        batched = forward_in_batches(forward, inputs, EVAL_BATCH_SIZE, windows_axis=axis)
        assert whole.shape[axis] == len(inputs)
        np.testing.assert_allclose(batched, whole, rtol=1.3e-6, atol=1e-5)
    sizes: list[int | None] = []

    def recorded(
        forward: Callable, inputs: np.ndarray, batch_size: int | None, **kwargs: int
    ) -> np.ndarray:
        sizes.append(batch_size)
        return forward_in_batches(forward, inputs, batch_size, **kwargs)

    monkeypatch.setattr(validation, "forward_in_batches", recorded)
    cfg = OmegaConf.create(
        {
            "model": {"combination": "inverse_mse", "combination_power": 2.0},
            "fit": {"naive_fallback": True, "min_gain_over_naive": 0.0, "max_p_value_vs_naive": 1},
            "data": {"eval_batch_size": EVAL_BATCH_SIZE},
        }
    )
    fit_member_weights(cfg, net, prepared, NAMES)
    assert sizes == [EVAL_BATCH_SIZE]
    # Judged window by window only where the validation score alone does not decide.
    naive_fallback.falls_back_to_naive(cfg, net, {"mase": 0.0, "naive_mase": 1.0}, prepared)
    assert sizes == [EVAL_BATCH_SIZE] * 2


def test_members_with_non_finite_forecasts_are_combined_by_their_mean(weighted_run: Path) -> None:
    prepared = PreparedData.load(weighted_run / "prepared")
    net = build_price_forecaster(
        json.loads((weighted_run / "model" / "artifacts" / "spec.json").read_text())
    )
    give_outputs(net)
    cfg = OmegaConf.create(
        {
            "model": {"combination": "inverse_mse", "combination_power": 2.0},
            "data": {"eval_batch_size": EVAL_BATCH_SIZE},
        }
    )
    assert len(fit_member_weights(cfg, net, prepared, NAMES)["weights"]) == 3
    assert net.member_weights is not None
    with torch.no_grad():  # one member diverged
        net.core.biases[-1][1] = float("nan")
    assert fit_member_weights(cfg, net, prepared, NAMES) is None
    assert net.member_weights is None
    assert (
        fit_member_weights(
            OmegaConf.merge(cfg, {"model": {"combination": "mean"}}), net, prepared, NAMES
        )
        is None
    )


def test_members_that_read_the_level_step_aside_under_either_combination(
    weighted_run: Path,
) -> None:
    """Past `fit.level_members_max_outside`, the `standard` and `per_window_level` members get
    no weight whether the rest are weighed by their errors or alike; below it, nothing changes."""
    prepared = PreparedData.load(weighted_run / "prepared")
    net = build_price_forecaster(
        json.loads((weighted_run / "model" / "artifacts" / "spec.json").read_text())
    )
    give_outputs(net)
    share = share_outside_range(prepared.splits["train"], prepared.splits["val"])
    assert 0.0 < share < 0.5
    assert net.level_reading_members() == [False, True, True]
    for combination in ("mean", "inverse_mse"):
        cfg = OmegaConf.create(
            {
                "model": {"combination": combination, "combination_power": 2.0},
                "fit": {"level_members_max_outside": share / 2},
                "data": {"eval_batch_size": EVAL_BATCH_SIZE},
            }
        )
        record = fit_member_weights(cfg, net, prepared, NAMES)
        assert record["method"] == combination and record["weights"] == [1.0, 0.0, 0.0]
        assert record["level_members"] == {
            "validation_outside_train_range": share,
            "max_share": share / 2,
            "set_aside": True,
            "held_out_windows_outside_range": 0,
            "weighed_on_windows": record["validation_windows"],
        }
        assert net.member_weights.flatten().tolist() == [1.0, 0.0, 0.0]
    below = OmegaConf.create(
        {
            "model": {"combination": "inverse_mse", "combination_power": 2.0},
            "fit": {"level_members_max_outside": 0.5},
            "data": {"eval_batch_size": EVAL_BATCH_SIZE},
        }
    )
    record = fit_member_weights(below, net, prepared, NAMES)
    assert record["level_members"]["set_aside"] is False and min(record["weights"]) > 0
    mean = OmegaConf.merge(below, {"model": {"combination": "mean"}})
    assert fit_member_weights(mean, net, prepared, NAMES) is None


def test_member_weights_are_fitted_on_the_windows_every_member_serves(weighted_run: Path) -> None:
    """Where the network sets the level members aside for a window (outside its fitted range),
    their errors there would lower their weight on the windows they do serve: the weights are
    inverse-MSE weights of the windows inside alone, and the record counts the others."""
    prepared = PreparedData.load(weighted_run / "prepared")
    artifacts = weighted_run / "model" / "artifacts"
    spec = json.loads((artifacts / "spec.json").read_text())
    state = load_file(str(artifacts / "weights.safetensors"))
    windows, members = validation_forecasts(
        saved_forecaster(spec, state), prepared, batch_size=None, members=True
    )
    # A range that about half of the validation windows lie mostly above.
    high = float(np.median(windows.inputs[:, -1]))
    spec["level_range"] = spec["level_range"] | {"high": high}
    net = saved_forecaster(spec, state)
    cfg = OmegaConf.create(
        {
            "model": {"combination": "inverse_mse", "combination_power": 2.0},
            "fit": {"level_members_max_outside": 0.5},
            "data": {"eval_batch_size": EVAL_BATCH_SIZE},
        }
    )
    record = fit_member_weights(cfg, net, prepared, NAMES)
    level = record["level_members"]
    assert level["set_aside"] is False
    outside = (windows.inputs > high).mean(axis=1) > 0.5
    assert 0 < outside.sum() < len(outside)
    assert level["weighed_on_windows"] == (~outside).sum()
    assert level["held_out_windows_outside_range"] == outside.sum()
    np.testing.assert_allclose(
        record["weights"],
        inverse_mse_weights(members[:, ~outside], windows.actual[~outside], 2.0),
        rtol=1e-6,
    )
    with_all = inverse_mse_weights(members, windows.actual, 2.0)
    assert not np.allclose(record["weights"], with_all, rtol=1e-3)
