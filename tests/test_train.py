"""A real training run end to end: outputs written, model directory loads and agrees.

The runs are the train task of `src/train.py`, in this process; the subprocess tests are about
the command line itself (exit status and one line on a bad value, what a fresh process imports).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from stockcast.config.compose import flatten
from stockcast.data.prepared import PreparedData
from stockcast.data.split import share_outside_range
from stockcast.errors import ArtifactError, ConfigError, StockcastError
from stockcast.forecasting.conformal import baseline_spread_profile, calibrate_intervals
from stockcast.forecasting.frame import split_forecast_frame
from stockcast.forecasting.intervals import band_scale_span, volatility_scale
from stockcast.forecasting.metrics import inverse_mse_weights, pooled_errors
from stockcast.models.spec import build_price_forecaster, saved_forecaster
from stockcast.serving.metadata import model_artifact, read_model_metadata
from stockcast.serving.model import open_model_dir
from stockcast.training import naive_fallback, validation
from stockcast.training.batched import forward_in_batches
from stockcast.training.member_weights import fit_member_weights
from stockcast.training.module import Forecaster
from stockcast.training.validation import validation_forecasts
from tests.conftest import (
    AS_OF,
    FAST_OVERRIDES,
    Command,
    Job,
    JobContext,
    compose_config,
    give_outputs,
    global_state_restored,
    isolated_overrides,
    prestart,
    run_train,
    seed_store,
)

pytestmark = pytest.mark.slow


def test_training_writes_metrics_checkpoint_and_config(trained_run: Path) -> None:
    summary = json.loads((trained_run / "metrics.json").read_text())
    for stage in ("val", "test"):
        assert {"mae", "rmse", "mape", "mase", "naive_mase", "loss"} <= set(summary[stage])
        assert all(np.isfinite(v) for v in summary[stage].values())
    # Named relative to the run folder: metrics.json is logged and copied with the run.
    assert (trained_run / summary["best_checkpoint"]).is_file()
    assert summary["model_dir"] == "model"
    assert (trained_run / "config_resolved.yaml").is_file()
    assert summary["training_run_id"], "the MLflow logger recorded a run"


def test_model_directory_forecast_equals_the_lightning_module(trained_run: Path) -> None:
    model = mlflow.pyfunc.load_model(str(trained_run / "model"))
    prepared = PreparedData.load(trained_run / "prepared")
    window = prepared.window
    prices = prepared.splits["test"].values[: window.previous_time_window * 3]
    rows = prices.reshape(3, window.previous_time_window)
    from_model, bands = split_forecast_frame(model.predict(rows))

    summary = json.loads((trained_run / "metrics.json").read_text())
    checkpoint = torch.load(
        trained_run / summary["best_checkpoint"], map_location="cpu", weights_only=False
    )
    spec = json.loads((trained_run / "model" / "artifacts" / "spec.json").read_text())
    net = build_price_forecaster(spec)
    module = Forecaster(net, torch.nn.MSELoss(), torch.optim.Adam)
    module.load_state_dict(checkpoint["state_dict"])
    # The spec's member weights (test_validation_fallback_and_bands_score_the_weighted_forecast
    # checks how they were fitted) are part of the served model.
    assert len(spec["combination"]["weights"]) == 3
    if summary["fell_back_to_naive"]:
        module.net.fall_back_to_naive()
    with torch.no_grad():
        from_module = module(torch.as_tensor(rows, dtype=torch.float32)).double().numpy()
    assert from_model.shape == (3, window.next_time_window)
    np.testing.assert_allclose(from_model, from_module, rtol=0, atol=1e-9)
    assert np.abs(from_model - rows[:, -1:]).max() < 0.5 * rows.mean(), "forecasts are prices"
    assert list(bands) == ["80", "95"]
    assert np.all(bands["95"][0] <= bands["80"][0]) and np.all(bands["80"][1] <= bands["95"][1])


def test_a_halted_tickers_window_gets_a_band_as_wide_as_the_train_windows_typical(
    trained_run: Path,
) -> None:
    """Ten equal prices carry no volatility of their own: the band takes the train windows'
    median unit relative to the price (recorded in the spec), not the floor's 1e-4 of it."""
    spec = json.loads((trained_run / "model" / "artifacts" / "spec.json").read_text())
    intervals = spec["intervals"]
    prepared = PreparedData.load(trained_run / "prepared")
    train = prepared.splits["train"].origins(prepared.window).inputs
    units = (
        volatility_scale(
            train, span=intervals["scale_span"], min_relative_scale=intervals["min_relative_scale"]
        )[:, 0]
        / train[:, -1]
    )
    assert intervals["still_unit"] == pytest.approx(np.median(units))
    price = float(train[-1, -1])
    halted = np.full((1, prepared.window.previous_time_window), price)
    served = open_model_dir(trained_run / "model").pyfunc
    _, bands = split_forecast_frame(served.predict(halted))
    lower, upper = intervals["bounds"]["80"]
    width = (bands["80"][1] - bands["80"][0])[0]
    np.testing.assert_allclose(
        width, (np.array(upper) - lower) * intervals["still_unit"] * price, rtol=1e-5
    )
    assert width[0] > 50 * intervals["min_relative_scale"] * price


OLDER_BANDS = """
_apply_intervals_today = apply_intervals


def apply_intervals(forecast, scale, bounds):
    return _apply_intervals_today(forecast, 2 * np.asarray(scale), bounds)
"""
NO_FLOOR = """
def guarded_forecast(windows, point, bands, *args, **kwargs):
    return point, bands
"""


@pytest.mark.parametrize("package_init", [True, False])
def test_a_model_folder_is_served_in_process_with_the_code_it_ships(
    trained_run: Path, tmp_path: Path, package_init: bool
) -> None:
    """Predict, serve and the monitor open a folder inside a process running today's stockcast;
    they must answer what `mlflow models serve` answers from the folder alone: its own code. Here
    the folder's code (as if saved by an older stockcast) drew bands twice as wide and did not
    floor them at zero."""
    older = Path(shutil.copytree(trained_run / "model", tmp_path / "model"))
    forecasting = older / "code" / "stockcast" / "forecasting"
    with (forecasting / "intervals.py").open("a") as shipped:
        shipped.write(OLDER_BANDS)
    with (forecasting / "output_guard.py").open("a") as shipped:  # and did not floor at zero
        shipped.write(NO_FLOOR)
    if not package_init:  # a namespace package, which the project's regular one would shadow
        (older / "code" / "stockcast" / "__init__.py").unlink()
        # and a module beside it that imports it first, if anything imported it
        (older / "code" / "aaa_first.py").write_text("import stockcast.forecasting.intervals\n")
    project_intervals = sys.modules["stockcast.forecasting.intervals"]
    path = list(sys.path)
    windows = 100 + np.cumsum(np.sin(np.arange(30)).reshape(3, 10), axis=1)

    point, bands = open_model_dir(trained_run / "model").forecast(windows)
    older_point, older_bands = open_model_dir(older).forecast(windows)

    np.testing.assert_allclose(older_point, point, rtol=0, atol=1e-12)
    for level, (lower, upper) in bands.items():
        older_lower, older_upper = older_bands[level]
        np.testing.assert_allclose(older_upper - older_lower, 2 * (upper - lower), rtol=1e-9)
    near_zero = np.tile([1.0, 0.1], (1, 5))
    _, bands = open_model_dir(trained_run / "model").forecast(near_zero)
    _, older_bands = open_model_dir(older).forecast(near_zero)
    assert bands["95"][0].min() == 0 and older_bands["95"][0].min() < 0
    # The project's own modules and import path are as they were.
    assert sys.modules["stockcast.forecasting.intervals"] is project_intervals
    assert not hasattr(project_intervals, "_apply_intervals_today")
    assert sys.path == path


@pytest.mark.parametrize(
    ("shipped", "reason"),
    [("raise SystemExit(3)\n", "its code exits, with status 3"), ("def (:\n", "invalid syntax")],
)
def test_a_folder_whose_own_code_cannot_load_is_one_sentence_naming_it(
    trained_run: Path, tmp_path: Path, shipped: str, reason: str
) -> None:
    folder = Path(shutil.copytree(trained_run / "model", tmp_path / "model"))
    (folder / "code" / "stockcast" / "models" / "spec.py").write_text(shipped)
    project_spec, path = sys.modules["stockcast.models.spec"], list(sys.path)
    with pytest.raises(ArtifactError) as caught:
        open_model_dir(folder)
    message = str(caught.value)
    assert message.startswith(f"cannot load the model in {folder} (") and reason in message
    assert "stockcast-verified" not in message and "stack trace" not in message
    assert sys.modules["stockcast.models.spec"] is project_spec and sys.path == path


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


def load_the_model_in_a_fresh_process(job: JobContext) -> Job:
    trained_run = job.fixture("trained_run")
    code = (
        "import sys, pickle, mlflow.pyfunc\n"
        "calls = []\n"
        "real = pickle.load\n"
        "pickle.load = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        f"m = mlflow.pyfunc.load_model({str(trained_run / 'model')!r})\n"
        "import numpy as np\n"
        "print(m.predict(np.array([[100.0 + i for i in range(10)]])).shape)\n"
        "assert not [k for k in sys.modules if k.startswith(('lightning', 'pytorch_lightning'))]\n"
        "assert not calls, 'pickle.load was used'\n"
        "import stockcast.models.network as net\n"
        "print('net from', net.__file__)\n"
    )
    return job.run(Command(("-c", code), env=job.env, check=False, fresh=True))


@prestart(load_the_model_in_a_fresh_process)
def test_loading_the_model_imports_no_lightning_and_unpickles_nothing(
    trained_run: Path, prestarted_job: Job
) -> None:
    result = prestarted_job.result
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(1, 25)" in result.stdout
    # The model carries the few modules it needs: a fresh process imports them from the model.
    assert f"net from {trained_run / 'model' / 'code'}" in result.stdout
    # What ships is followed from the served code's imports: the kind (with the field types its
    # settings use), the network, the core's frame, intervals and quantile bands; nothing of training,
    # evaluation, the registry or how bands are calibrated.
    code = trained_run / "model" / "code" / "stockcast"
    shipped = sorted(p.relative_to(code).as_posix() for p in code.rglob("*.py"))
    assert shipped == [
        "__init__.py",
        "data/__init__.py",
        "data/calendar.py",
        "errors.py",
        "fields.py",
        "forecasting/__init__.py",
        "forecasting/float_limits.py",
        "forecasting/frame.py",
        "forecasting/guard.py",
        "forecasting/intervals.py",
        "forecasting/output_guard.py",
        "forecasting/quantiles.py",
        "forecasting/windows.py",
        "models/__init__.py",
        "models/cores.py",
        "models/kind.py",
        "models/kinds/__init__.py",
        "models/kinds/mlp.py",
        "models/level_range.py",
        "models/log_view.py",
        "models/member_prices.py",
        "models/network.py",
        "models/scaled_windows.py",
        "models/scaling.py",
        "models/served_weights.py",
        "models/settings.py",
        "models/spec.py",
        "serving/__init__.py",
        "serving/pyfunc_model.py",
    ]
    weights = trained_run / "model" / "artifacts" / "weights.safetensors"
    assert weights.is_file()


def test_the_models_example_input_is_its_last_validation_window(trained_run: Path) -> None:
    """MLflow's input example of the evaluated model held the test split's last window: test
    values in a model that was never to see them (and in the copy a refit keeps of it)."""
    prepared = PreparedData.load(trained_run / "prepared")
    p = prepared.window.previous_time_window
    example = json.loads((trained_run / "model" / "input_example.json").read_text())
    np.testing.assert_allclose(np.ravel(example), prepared.splits["val"].values[-p:])


def test_the_model_requires_what_its_shipped_code_imports(
    trained_run: Path, tmp_path: Path
) -> None:
    """An endpoint installs the folder's requirements.txt: a kind that imports a package at its
    top level needs it there; one imported inside a training function does not."""
    from importlib.metadata import version

    from stockcast.training.export import SERVING_REQUIREMENTS, serving_requirements

    pinned = (trained_run / "model" / "requirements.txt").read_text().split()
    assert sorted(line.split("==")[0] for line in pinned if "==" in line) == sorted(
        SERVING_REQUIREMENTS
    )
    kind = tmp_path / "mykinds" / "drift.py"
    kind.parent.mkdir()
    kind.write_text(
        "import json\nimport numpy as np\nfrom mykinds import helpers\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import matplotlib\n"
        "else:\n    from mlflow import pyfunc\n"
        "try:\n    import yaml\nexcept ImportError:\n    yaml = None\n"
        # google is a namespace several distributions share: google.protobuf is protobuf's.
        "from google import protobuf\nfrom google.protobuf.message import Message\n\n"
        "def fit():\n    import statsforecast\n"
    )
    needed = serving_requirements({"mykinds.drift": kind})
    assert needed[-2:] == [f"protobuf=={version('protobuf')}", f"PyYAML=={version('PyYAML')}"]
    assert [line.split("==")[0] for line in needed[:-2]] == list(SERVING_REQUIREMENTS)


def test_the_model_records_the_versions_of_the_libraries_that_trained_it(
    trained_run: Path,
) -> None:
    """Its requirements.txt pins what serving imports: Lightning, which ran the fit, and
    statsforecast, which fits the ets kind, were recorded nowhere, so its git_commit and
    training config could not say what to install to train the same numbers again."""
    from importlib.metadata import version

    metadata = read_model_metadata(trained_run / "model")
    names = ("torch", "lightning", "numpy", "statsforecast")
    assert metadata.get("training_packages") == {name: version(name) for name in names}


def test_loading_the_model_warns_of_nothing(trained_run: Path) -> None:
    """MLflow nudges every PythonModel whose `predict` has no type hints, in colour codes, each
    time a client loads it; the served model's hint is one MLflow derives nothing from."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = mlflow.pyfunc.load_model(str(trained_run / "model"))
    assert model.predict(np.arange(100.0, 110.0).reshape(1, -1)).shape == (1, 25)
    assert [str(w.message) for w in caught if "type hint" in str(w.message)] == []


def test_mlflow_run_has_params_and_metrics(trained_run: Path) -> None:
    summary = json.loads((trained_run / "metrics.json").read_text())
    tmp = trained_run.parent
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlruns.db")
    run = client.get_run(summary["training_run_id"])
    assert run.data.params["data.previous_time_window"] == "10"
    assert "val/mase" in run.data.metrics


def test_mlflow_charts_metrics_at_the_optimizer_step_metrics_json_counts(
    trained_run: Path,
) -> None:
    """Lightning's own step counts its batches, each holding `data.steps_per_batch` optimizer
    steps: the run's charts ended at a fraction of the steps metrics.json, the checkpoints and
    `trainer.max_steps` count."""
    summary = json.loads((trained_run / "metrics.json").read_text())
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{trained_run.parent}/mlruns.db")
    run_id = summary["training_run_id"]
    val = client.get_metric_history(run_id, "val/mase")
    test = client.get_metric_history(run_id, "test/mase")
    assert val[-1].step == test[-1].step == summary["optimizer_steps"] > 0
    assert [m.step for m in val] == sorted(m.step for m in val)
    epochs = client.get_metric_history(run_id, "epoch")
    assert epochs[-1].value == summary["epochs"]


def test_a_cpu_fit_asked_for_16_mixed_says_and_records_it_ran_in_bf16_mixed(
    seeded_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On a CPU Lightning runs 16-mixed as bf16-mixed (fp16 autocast is CUDA's): the run's
    params said 16-mixed, and only Lightning's warning on stderr (not the run's log) said what
    ran."""
    run_dir = seeded_tmp / "run"
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        run_train(seeded_tmp, run_dir, *FAST_OVERRIDES, "+trainer.precision=16-mixed")
    summary = json.loads((run_dir / "metrics.json").read_text())
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{seeded_tmp}/mlruns.db")
    params = client.get_run(summary["training_run_id"]).data.params
    assert params["trainer.precision"] == "bf16-mixed"
    said = [r.getMessage() for r in caplog.records if r.name == "stockcast.training.precision_used"]
    assert said == [
        "trainer.precision=16-mixed runs as bf16-mixed on a CPU, which has no fp16 mixed "
        "precision: ask for +trainer.precision=bf16-mixed there, or train on a CUDA GPU "
        "(trainer=gpu) for fp16."
    ]
    assert not [w for w in shown if "AMP with fp16" in str(w.message)], "said once, by us"


def test_a_fit_refused_after_lightning_ended_it_leaves_its_run_failed(tmp_path: Path) -> None:
    """Lightning marks the MLflow run FINISHED as its fit ends: a fit then refused (diverged,
    without the fallback: no model saved) read in the store as one that finished."""
    diverging = (*FAST_OVERRIDES, "optim.lr=1e8", "fit.naive_fallback=false")
    with pytest.raises(ConfigError, match=r"^the fit diverged: its validation forecasts are not"):
        run_train(tmp_path, tmp_path / "run", *diverging)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    experiment = client.get_experiment_by_name("stockcast")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"


def test_fast_dev_run_debug_config(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_train(tmp_path, run_dir, "debug=fdr", "data.length=300")
    assert (run_dir / "model" / "MLmodel").is_file()


def test_the_overfit_debug_config_keeps_the_model_that_learned(tmp_path: Path) -> None:
    """debug=overfit set callbacks to null: Lightning's own checkpoint was restored, no
    resume.ckpt was written, and the naive fallback replaced the model that learned the batches
    (a model fitted to two batches forecasts unseen windows no better than naive)."""
    run_dir = tmp_path / "run"
    run_train(tmp_path, run_dir, "debug=overfit", "trainer.max_epochs=30")
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["fell_back_to_naive"] is False
    assert summary["best_checkpoint"].startswith("checkpoints/")
    assert (run_dir / "checkpoints" / "resume.ckpt").is_file()
    with (run_dir / "csv" / "metrics.csv").open() as logged:
        losses = [float(row["train/loss"]) for row in csv.DictReader(logged) if row["train/loss"]]
    assert len(losses) > 2 and losses[-1] < losses[0] * 0.9, losses


def test_csv_training_with_several_ids(seeded_tmp: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["Date,Ticker,Close"]
    for ticker in ("AAA", "BBB"):
        prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
        for day, price in zip(
            np.arange("2023-01-02", 200, dtype="datetime64[D]"), prices, strict=False
        ):
            lines.append(f"{day},{ticker},{price:.4f}")
    csv = seeded_tmp / "prices.csv"
    csv.write_text("\n".join(lines) + "\n")
    run_dir = seeded_tmp / "run"
    run_train(
        seeded_tmp,
        run_dir,
        "data=csv",
        f"data.path={csv}",
        "data.id_column=Ticker",
        *FAST_OVERRIDES[1:],
    )
    meta = json.loads((run_dir / "prepared" / "meta.json").read_text())
    assert meta["series_ids"] == ["AAA", "BBB"] and meta["has_dates"]


BAD_INPUT = [
    ("data.previous_time_window=0", "data.previous_time_window is 0"),
    ("data.length=30", "each split needs at least"),
    ("data.split.test=0.5", "sum to 1.35"),
    # Lightning refused it mid-fit, with a traceback: the module steps its optimizer by hand.
    ("+trainer.accumulate_grad_batches=2", "trainer.accumulate_grad_batches is 2"),
    # Lightning's traceback, or silently replaced by the fit's own schedule (fit.val_every_steps).
    ("+trainer.val_check_interval=2", "trainer.val_check_interval is 2; the fit validates"),
    ("+trainer.check_val_every_n_epoch=3", "so set fit.val_every_steps instead"),
]


@pytest.mark.parametrize(("override", "message"), BAD_INPUT)
def test_bad_input_is_one_clear_sentence_before_training(
    tmp_path: Path, override: str, message: str
) -> None:
    with pytest.raises(StockcastError) as refused:
        run_train(tmp_path, tmp_path / "run", override)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "mlruns.db").exists(), "refused before any tracking or training"


OPTIM_REFUSED = [
    (
        ["optim.optimizer._target_=torch.optim.Nope"],
        "optim.optimizer._target_ is 'torch.optim.Nope', which cannot be imported; name a class "
        "that can (torch.optim.AdamW, torch.optim.lr_scheduler.StepLR).",
    ),
    (
        ["optim.optimizer._target_=torch.optim.RMSprop"],
        "optim.optimizer cannot be built (RMSprop.__init__() got an unexpected keyword argument "
        "'fused'); change the setting it names, or remove an argument its class does not take "
        "with ~optim.optimizer.<argument>.",
    ),
    (
        ["optim.scheduler._target_=torch.optim.lr_scheduler.StepLR"],
        "optim.scheduler cannot be built (StepLR.__init__() got an unexpected keyword argument "
        "'mode'); change the setting it names, or remove an argument its class does not take "
        "with ~optim.scheduler.<argument>.",
    ),
    (
        ["optim.scheduler.factor=2"],
        "optim.scheduler cannot be built (Factor should be < 1.0); change the setting it names, "
        "or remove an argument its class does not take with ~optim.scheduler.<argument>.",
    ),
]


def refused_by_train_and_pipeline_first(
    tmp_path: Path, overrides: list[str], sentence: str
) -> None:
    """`overrides` refused in `sentence` by a train run before its data is read, and by a local
    pipeline's check before its first step."""
    from stockcast.orchestration.preflight import check_before_first_step

    with pytest.raises(ConfigError) as refused:
        run_train(tmp_path, tmp_path / "run", *overrides)
    assert str(refused.value) == sentence
    assert not (tmp_path / "run" / "prepared").exists(), "refused before the data was read"
    cfg = compose_config("pipeline", overrides, tmp_path)
    with pytest.raises(ConfigError, match=re.escape(sentence)):
        check_before_first_step(cfg, tmp_path / "pipeline")


@pytest.mark.parametrize(("overrides", "sentence"), OPTIM_REFUSED)
def test_an_optimizer_or_schedule_torch_refuses_is_refused_before_any_work(
    tmp_path: Path, overrides: list[str], sentence: str
) -> None:
    """Both were built only inside the fit: torch's traceback once the data was prepared (in a
    pipeline, after its prepare step). A train run and a pipeline now build them first."""
    refused_by_train_and_pipeline_first(tmp_path, overrides, sentence)


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as one without a CUDA or MPS GPU, whatever it has."""
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    for accelerator in (CUDAAccelerator, MPSAccelerator):
        monkeypatch.setattr(accelerator, "is_available", staticmethod(lambda: False))


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        (["trainer=gpu"], "'gpu', but this machine has no GPU"),
        (["trainer.accelerator=cuda"], "'cuda', but this machine has no CUDA GPU"),
        (["trainer=ddp", "trainer.accelerator=gpu"], "'gpu', but this machine has no GPU"),
    ],
)
def test_an_accelerator_this_machine_lacks_is_refused_before_any_work(
    tmp_path: Path, no_gpu: None, overrides: list[str], missing: str
) -> None:
    """Lightning refused it only when the fit built its trainer: after the data was prepared
    (in a pipeline, after its prepare step). A train run and a pipeline now ask first."""
    sentence = (
        f"trainer.accelerator is {missing} (Lightning finds cpu); choose trainer=cpu here, or "
        "train where one is (an Azure ML job on a GPU cluster)."
    )
    refused_by_train_and_pipeline_first(tmp_path, overrides, sentence)


def test_the_nccl_backend_without_a_cuda_gpu_is_refused_before_any_work(
    tmp_path: Path, no_gpu: None
) -> None:
    """torch stopped the fit with "Distributed package doesn't have NCCL built in" and its
    traceback as DDP started, after the data was prepared."""
    sentence = (
        "trainer.strategy.process_group_backend is 'nccl', which runs only on CUDA GPUs, but "
        "this machine has no CUDA GPU; set trainer.strategy.process_group_backend=gloo here, or "
        "train where one is (an Azure ML job on a GPU cluster)."
    )
    overrides = ["trainer=ddp", "trainer.devices=1", "trainer.strategy.process_group_backend=nccl"]
    refused_by_train_and_pipeline_first(tmp_path, overrides, sentence)


def test_several_nodes_no_launcher_started_are_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fit prepared the data, then waited for the other machine forever, deaf to Ctrl-C."""
    from stockcast.training.runtime import NODE_LAUNCHER_VARIABLES

    for name in NODE_LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    sentence = (
        "trainer.num_nodes is 2, but nothing started the other machines' processes (none of "
        "NODE_RANK, RANK, WORLD_SIZE or SLURM_NODEID is set), so the fit would wait for them "
        "forever; set trainer.num_nodes=1 here, or run on a cluster (make submit-train "
        'ARGS="trainer=ddp azureml.job.instance_count=2").'
    )
    refused_by_train_and_pipeline_first(tmp_path, ["+trainer.num_nodes=2"], sentence)


def test_several_nodes_a_launcher_started_are_not_refused(make_cfg) -> None:
    """Azure ML sets NODE_RANK, RANK and WORLD_SIZE on every node it starts."""
    from stockcast.training.runtime import refuse_nodes_nothing_started

    trainer = make_cfg("trainer=ddp", "trainer.num_nodes=2").trainer
    refuse_nodes_nothing_started(trainer, {"NODE_RANK": "1", "RANK": "2", "WORLD_SIZE": "4"})


@pytest.mark.parametrize("accelerator", ["cpu", "auto"])
def test_devices_a_cpu_cannot_take_are_refused_before_any_work(
    tmp_path: Path, no_gpu: None, accelerator: str
) -> None:
    """`trainer.devices=[0,1]` (GPU indices) on the CPU, asked or chosen by `auto`: Lightning
    refused it only when the fit built its trainer, after the data was prepared."""
    sentence = (
        "the trainer settings cannot run here: `devices` selected with `CPUAccelerator` should "
        "be an int > 0; change the trainer setting it names, or choose trainer=cpu where this "
        "machine lacks the accelerator or devices asked for."
    )
    overrides = [f"trainer.accelerator={accelerator}", "trainer.devices=[0,1]"]
    refused_by_train_and_pipeline_first(tmp_path, overrides, sentence)


@pytest.mark.parametrize(
    "overrides",
    [
        ["optim.optimizer._target_=torch.optim.RMSprop", "~optim.optimizer.fused"],
        [
            "optim.scheduler._target_=torch.optim.lr_scheduler.StepLR",
            "~optim.scheduler.mode",
            "~optim.scheduler.factor",
            "~optim.scheduler.patience",
            "+optim.scheduler.step_size=2",
        ],
        ["optim.scheduler=null"],
    ],
)
def test_another_optimizer_or_schedule_with_its_own_arguments_is_built(
    make_cfg, overrides: list[str]
) -> None:
    from stockcast.config.optimizer_check import refuse_an_unbuildable_optimizer

    refuse_an_unbuildable_optimizer(make_cfg(*overrides))


def train_with_too_few_points(job: JobContext) -> Job:
    override, _ = BAD_INPUT[1]  # refused by the data, after the config was accepted
    return job.run(Command(("src/train.py", override, *isolated_overrides(job.tmp)), check=False))


@prestart(train_with_too_few_points)
def test_bad_input_exits_2_with_one_line_and_no_traceback(prestarted_job: Job) -> None:
    result, message = prestarted_job.result, BAD_INPUT[1][1]
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (prestarted_job.tmp / "mlruns.db").exists(), "refused before tracking or training"


def test_gradient_clipping_is_applied_by_the_training_module(make_cfg, tmp_path: Path) -> None:
    """Lightning refuses trainer.gradient_clip_val for a module that steps its optimizer by
    hand (a traceback once the data was prepared): the module clips itself, in a fixed-step fit
    and in the evaluated one."""
    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.training.fixed_steps import refit_network

    data = ("data=seasonal", "data.length=130", "logger=none")
    prepared = PreparedData.load(run_prepare(make_cfg(*data), tmp_path / "prepared"))

    def weights(*overrides: str, steps: int = 20) -> torch.Tensor:
        net = refit_network(make_cfg(*data, *overrides), prepared, steps, 9).net
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    start = weights(steps=0)
    moved = (weights() - start).abs().max()
    # Each gradient clipped to 1e-12 leaves Adam's step at about lr * 1e-12 / eps.
    tiny = ("trainer.gradient_clip_val=1e-12", "trainer.gradient_clip_algorithm=value")
    by_value = weights(*tiny)
    assert (by_value - start).abs().max() < 1e-3 * moved
    # Clipped by their norm instead, the gradients keep their direction: other steps.
    by_norm = weights("trainer.gradient_clip_val=1e-12", "trainer.gradient_clip_algorithm=norm")
    assert (by_norm - start).abs().max() < 1e-3 * moved
    assert not torch.equal(by_norm, by_value)

    def evaluated(name: str, *overrides: str) -> dict[str, torch.Tensor]:
        short = ("data.length=300", "trainer.max_steps=20", "fit.naive_fallback=false")
        run_train(tmp_path, tmp_path / name, *short, "logger=none", *overrides)
        return load_file(str(tmp_path / name / "model" / "artifacts" / "weights.safetensors"))

    free, clipped = evaluated("free"), evaluated("clipped", *tiny)
    assert any(not torch.equal(free[key], clipped[key]) for key in free), "the fit clipped"
    # Under mixed precision Lightning clips only an optimizer that leaves it the unscaling: the
    # fused Adam (the default) is refused in one sentence, an unfused one clips.
    mixed = ("+trainer.precision=bf16-mixed", *tiny)
    with pytest.raises(ConfigError, match=r"set optim.optimizer.fused=false, or leave"):
        weights(*mixed)
    unfused = weights(*mixed, "optim.optimizer.fused=false")
    assert (unfused - start).abs().max() < 1e-3 * moved


@pytest.mark.parametrize(
    ("max_time", "seconds"), [("{days:1,hours:0.5}", 88200.0), ("01:00:30:00", 88200.0)]
)
def test_a_max_time_mapping_or_duration_limits_the_fit_and_the_refit(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_time: str, seconds: float
) -> None:
    """Lightning's Timer reads a mapping only as a dict: the DictConfig Hydra handed it for
    `trainer.max_time={days:1}` was a traceback once the data was prepared."""
    from lightning.pytorch.callbacks import timer

    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.training.fixed_steps import refit_network

    limits: list[float | None] = []
    built = timer.Timer.__init__

    def recording(self: timer.Timer, *args: object, **kwargs: object) -> None:
        built(self, *args, **kwargs)
        limits.append(self._duration)

    monkeypatch.setattr(timer.Timer, "__init__", recording)
    override = f"+trainer.max_time={max_time}"
    run_train(tmp_path, tmp_path / "run", *FAST_OVERRIDES, "logger=none", override)
    assert (tmp_path / "run" / "model" / "MLmodel").is_file()
    data = ("data=seasonal", "data.length=130", "logger=none")
    prepared = PreparedData.load(run_prepare(make_cfg(*data), tmp_path / "prepared"))
    refit_network(make_cfg(*data, override), prepared, 2, 9)
    assert limits == [seconds, seconds]


def test_the_schedule_a_refit_repeats_is_the_one_before_the_best_step() -> None:
    """A drop recorded after N steps sets the rate of step N + 1 on: one at the best step's own
    validation took no part in the evaluated model. Shares are of the best step; a schedule not
    known (null) or not recorded (an older train step) is the starting rate throughout."""
    from stockcast.training.evaluated_recipe import evaluated_lr_drops, lr_drops_before

    drops = [[30, [0.5, 0.5]], [60, [0.25, 0.5]], [90, [0.125, 0.25]]]
    assert lr_drops_before(drops, 60) == [[30, [0.5, 0.5]]]
    assert lr_drops_before(drops, 61) == drops[:2]
    assert lr_drops_before(None, 60) is None
    metrics = {"best_step": 120, "lr_drops": drops}
    assert evaluated_lr_drops(metrics) == [
        (0.25, (0.5, 0.5)),
        (0.5, (0.25, 0.5)),
        (0.75, (0.125, 0.25)),
    ]
    assert evaluated_lr_drops({"best_step": 120, "lr_drops": None}) == []
    assert evaluated_lr_drops({"best_step": 120}) == []


def test_flatten() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


# After a training run, the local pipeline's first step is imported too: neither may pull in
# the Azure SDK.
NO_AZURE_PROBE = """
import runpy, sys
sys.argv = ["src/train.py", *sys.argv[1:]]
try:
    runpy.run_path("src/train.py", run_name="__main__")
finally:
    import stockcast.orchestration.steps.prepare
    print("AZURE=" + ",".join(sorted(m for m in sys.modules if m.startswith(("azure", "azureml")))))
"""


def train_with_an_import_probe(job: JobContext) -> Job:
    probe = Command(
        (
            "-c",
            NO_AZURE_PROBE,
            "debug=fdr",
            "data.length=300",
            "logger=mlflow",
            *isolated_overrides(job.tmp),
            f"hydra.run.dir={job.tmp / 'run'}",
        ),
        fresh=True,
    )
    return job.run(probe)


@prestart(train_with_an_import_probe)
def test_local_training_imports_nothing_from_azure(prestarted_job: Job) -> None:
    result = prestarted_job.result
    assert "AZURE=\n" in result.stdout, result.stdout[-500:]
    assert (prestarted_job.tmp / "run" / "model" / "MLmodel").is_file()


def test_a_callback_or_logger_set_to_null_is_switched_off(tmp_path: Path) -> None:
    """The schema took a null callback or logger as switched off, and the fit then failed after
    preparing its data with a TypeError from deep inside."""
    run_dir = tmp_path / "run"
    run_train(
        tmp_path,
        run_dir,
        *FAST_OVERRIDES,
        "callbacks.early_stopping=null",
        "callbacks.model_checkpoint=null",
        "logger.mlflow=null",
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # The fit ran its whole budget (no early stopping) and kept its latest state (the resume
    # checkpoint, the one left), with no MLflow run.
    assert metrics["epochs"] == 2 and metrics["best_checkpoint"] == "checkpoints/resume.ckpt"
    assert metrics["training_run_id"] is None and not (tmp_path / "mlruns.db").exists()


def test_mlflow_and_csv_loggers_together_each_get_the_run(tmp_path: Path) -> None:
    """`logger=[mlflow,csv]`: metrics.json was logged through every logger with an
    `experiment`, the CSV logger's writer too, and the run ended in an AttributeError traceback
    after its whole fit, its MLflow run without metrics.json."""
    run_dir = tmp_path / "run"
    run_train(tmp_path, run_dir, *FAST_OVERRIDES, "logger=[mlflow,csv]")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with (run_dir / "csv" / "metrics.csv").open() as logged:
        assert any(row["val/mase"] for row in csv.DictReader(logged))
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    run = client.get_run(metrics["training_run_id"])
    assert run.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["metrics.json"]


def test_a_stages_metrics_are_its_own_and_no_train_loss_reads_as_its_loss() -> None:
    """The validate run after the fit logged the train loss of the steps after the fit's last
    validation; read back without prefixes, it overwrote val/loss in metrics.json, and a sweep
    ranking by val/loss ranked training losses."""
    from stockcast.training.stages import stage_metrics

    def validate(model: object, datamodule: object, verbose: bool) -> list[dict[str, float]]:
        return [{"val/loss": 1.25, "val/mase": 0.9, "train/loss": 0.5, "step": 40.0, "epoch": 3.0}]

    assert stage_metrics(validate, None, None) == {"loss": 1.25, "mase": 0.9}


def test_a_fit_in_half_precision_weighs_calibrates_and_serves_in_float32(tmp_path: Path) -> None:
    """trainer.precision=bf16-true holds the network in bfloat16 for every stage; the member
    weights, the bands and the export then fed it float32 windows and failed with a traceback
    after the whole fit."""
    run_dir = tmp_path / "run"
    # With the folds, whose fits (as the refit's and the held-back check's) run apart.
    run_train(
        tmp_path,
        run_dir,
        *FAST_OVERRIDES,
        "logger=none",
        "+trainer.precision=bf16-true",
        "fit.folds_below_windows=1000",
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert np.isfinite(metrics["val"]["mase"]) and np.isfinite(metrics["test"]["mase"])
    assert metrics["folds"]
    weights = load_file(str(model_artifact(run_dir / "model", "weights")))
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}
    points, bands = open_model_dir(run_dir / "model").forecast(100 + np.arange(10.0)[None])
    assert np.isfinite(points).all() and bands


@pytest.mark.parametrize("precision", ["bf16-true", "64-true"])
def test_a_fit_in_another_precision_keeps_the_network_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, precision: str
) -> None:
    """bf16-true cast the buffers no state dict holds (Theta's constant matrices, the member
    weights) to bfloat16 and back: the network that fitted the bands forecast otherwise than
    the saved model, which rebuilds them exactly. 64-true weighed and calibrated the members
    in float64, and saved float64 weights that the served model runs in float32."""
    from stockcast.training import training_run

    exported = []
    real_save = training_run.save_model_dir

    def save_model_dir(net: torch.nn.Module, *args: object) -> Path:
        exported.append(net)
        return real_save(net, *args)

    monkeypatch.setattr(training_run, "save_model_dir", save_model_dir)
    run_dir = tmp_path / "run"
    run_train(
        tmp_path,
        run_dir,
        *FAST_OVERRIDES,
        "logger=none",
        "model=theta",
        "data=seasonal",
        "data.previous_time_window=auto",
        f"+trainer.precision={precision}",
    )
    (net,) = exported
    model = open_model_dir(run_dir / "model")
    steps = np.random.default_rng(0).normal(size=(4, model.previous_time_window))
    windows = 200 + np.cumsum(steps, axis=1)
    with torch.inference_mode():
        in_memory = net.eval()(torch.tensor(windows, dtype=torch.float32)).double().numpy()
    np.testing.assert_array_equal(model.forecast(windows)[0], in_memory)
