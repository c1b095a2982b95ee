"""The served forecast: the DataFrame contract, a step budget that adapts to the series, a
model anchored on the last price, the naive fallback and a quantile fit's served bands."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stockcast.errors import ConfigError
from stockcast.forecasting.frame import forecast_columns, split_forecast_frame
from stockcast.forecasting.intervals import (
    recorded_unit,
    volatility_scale,
)
from stockcast.forecasting.quantiles import monotone_quantiles
from stockcast.models.spec import build_price_forecaster
from tests.interval_helpers import SPEC, random_walk


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
