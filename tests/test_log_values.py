"""Exponential smoothing of logarithms (the ets kind with `values: log`): a season or trend that
grows with the level, forecast as changes in price from the last price."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from stockcast.config.schema import validate_config
from stockcast.data.prepared import PreparedData
from stockcast.errors import ConfigError
from stockcast.models.kind import model_kind
from stockcast.models.kinds.ensemble import EnsembleCore
from stockcast.models.kinds.ets import LAST_VALUE, FittedHoltWinters, fit_panel
from stockcast.models.kinds.mlp import MLP
from stockcast.models.network import PriceForecaster
from stockcast.models.scaling import WindowScaler
from stockcast.models.spec import build_price_forecaster
from stockcast.serving.model import open_model_dir
from stockcast.training.losses import flat_windows, member_losses
from tests.conftest import trained_once
from tests.test_ets_kind import LONE
from tests.test_season_kinds import saved_network

WINDOW, HORIZON, SEASON = 48, 5, 12


def growing_season(seed: int, length: int = 240) -> np.ndarray:
    """Monthly values whose trend and 12-month season are proportional to their level (additive
    in logarithms), with noise of 2%."""
    t = np.arange(length)
    noise = np.random.default_rng(seed).normal(0, 0.02, length)
    return 100 * np.exp(0.01 * t + 0.3 * np.sin(2 * np.pi * t / SEASON) + noise)


def network(values: str, views: tuple[str, ...] = ("per_window",)) -> PriceForecaster:
    core = FittedHoltWinters(len(views), WINDOW, HORIZON, SEASON, values=values)
    scalers = [WindowScaler(view, 0.0, 1.0, 1e-4) for view in views]
    return PriceForecaster(core, scalers, WINDOW, HORIZON, anchor="last").eval()


def rolling_windows(series: np.ndarray, start: int) -> tuple[torch.Tensor, np.ndarray]:
    """Every window ending at or after `start` with a whole horizon after it, and its targets."""
    ends = range(start, len(series) - HORIZON + 1)
    windows = np.stack([series[end - WINDOW : end] for end in ends])
    targets = np.stack([series[end : end + HORIZON] for end in ends])
    return torch.tensor(windows, dtype=torch.float32), targets


def test_logarithms_forecast_a_season_that_grows_with_the_level() -> None:
    errors = {"prices": 0.0, "log": 0.0}
    for seed in (0, 1, 2):
        series = growing_season(seed)
        windows, targets = rolling_windows(series, 180)
        for values in errors:
            net = network(values)
            net.core.fit_to_series([series[:180]])
            with torch.no_grad():
                errors[values] += np.abs(net(windows).numpy() - targets).mean()
    # Smoothed in prices, a season that grows with the level is one that keeps changing
    # (measured: 0.80 of the error over these three series).
    assert errors["log"] < 0.9 * errors["prices"]


def test_the_fit_is_of_the_logarithms_of_the_series_above_zero(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Series not above zero are left out, and said: with none left the member repeats the
    last price, which only an INFO line told."""
    net = network("log")
    series = [growing_season(1), growing_season(2) - 500]  # the second crosses zero
    with caplog.at_level(logging.WARNING, logger="stockcast.models.kinds.ets"):
        net.core.fit_to_series(series[:1])
        assert caplog.text == ""
        net.core.fit_to_series(series)
    assert "1 of the 2 reaches zero or below, left out of its fit" in caplog.text
    expected = fit_panel([np.log(series[0])], SEASON)
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(net.core, name).numpy(), value, rtol=1e-6)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stockcast.models.kinds.ets"):
        net.core.fit_to_series(series[1:])  # none above zero: the last value's numbers
    assert "1 of the 1 reaches zero or below, so it repeats the last price" in caplog.text
    assert "set values: prices" in caplog.text
    for name, value in LAST_VALUE.items():
        assert float(getattr(net.core, name)) == value


def test_a_window_not_above_zero_gets_its_last_price() -> None:
    net = network("log", ("per_window", "standard", "per_window_level"))
    net.core.fit_to_series([growing_season(3)])
    windows = torch.tensor(np.stack([growing_season(4)[:WINDOW]] * 3), dtype=torch.float32)
    windows[1, 7] = 0.0
    windows[2, :20] -= 200.0
    with torch.no_grad():
        forecast = net(windows)
    assert torch.isfinite(forecast).all()
    assert (forecast[1:] == windows[1:, -1:]).all()
    assert (forecast[0] - windows[0, -1]).abs().max() > 1.0
    # Each view of the window smooths the same logarithms: one forecast.
    with torch.no_grad():
        members = net.member_forecasts(windows[:1])
    torch.testing.assert_close(members[1], members[0])
    torch.testing.assert_close(members[2], members[0])


def test_no_change_in_logarithms_is_the_last_price_to_the_bit() -> None:
    net = network("log")
    net.core.fit_to_series([growing_season(5)])
    net.fall_back_to_naive()
    windows = torch.tensor(growing_season(6)[None, :WINDOW] * 1.2345, dtype=torch.float32)
    with torch.no_grad():
        assert (net(windows) == windows[:, -1:]).all()


def mixed_networks(log_first: bool = False) -> tuple[PriceForecaster, PriceForecaster]:
    """Two ensembles of one MLP on the last ten values (its weights shared) and an ets, over two
    views: the ets of logarithms in the first, of prices in the second."""
    views = ("per_window", "standard")
    mlp = MLP(input_size=10, horizon=HORIZON, hidden_sizes=[8], activation="relu",
              dropout=0.0, members=2, member_inputs=[10, 10])  # fmt: skip
    networks = []
    for values in ("log", "prices"):
        ets = FittedHoltWinters(2, WINDOW, HORIZON, SEASON, values=values)
        ets.fit_to_series([growing_season(9)])
        parts = [(ets, (0, WINDOW)), (mlp, (WINDOW - 10, WINDOW))]
        if not log_first:
            parts.reverse()
        core = EnsembleCore([part for part, _ in parts], [span for _, span in parts])
        scalers = [WindowScaler(view, 100.0, 10.0, 1e-4) for view in views * 2]
        networks.append(PriceForecaster(core, scalers, WINDOW, HORIZON, anchor="last"))
    with torch.no_grad():  # after the networks started it at the last price
        for param in mlp.parameters():
            param.normal_(0, 0.3)
    return networks[0], networks[1]


def awkward_windows() -> tuple[torch.Tensor, torch.Tensor]:
    """Growing windows and their targets, one with a zero price, one below zero, one flat."""
    windows, targets = rolling_windows(growing_season(8), 100)
    windows, targets = windows[:6].clone(), torch.tensor(targets[:6], dtype=torch.float32)
    windows[1, 30] = 0.0
    windows[2] -= 1e4
    windows[3] = 250.0
    targets[4, 2] = -1.0
    return windows, targets


@pytest.mark.parametrize("log_first", [False, True])
def test_an_mlp_beside_log_members_forecasts_and_learns_as_beside_prices(log_first: bool) -> None:
    with_logs, with_prices = mixed_networks(log_first)
    windows, targets = awkward_windows()
    mlp_rows = slice(2, 4) if log_first else slice(0, 2)
    with torch.no_grad():
        torch.testing.assert_close(
            with_logs.member_forecasts(windows)[mlp_rows],
            with_prices.member_forecasts(windows)[mlp_rows],
        )
    # The ets beside the MLP forecasts as the same ets alone.
    alone = network("log", ("per_window", "standard"))
    alone.core.fit_to_series([growing_season(9)])
    ets_rows = slice(0, 2) if log_first else slice(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(
            with_logs.member_forecasts(windows)[ets_rows], alone.member_forecasts(windows)
        )
    # The flat window (the fourth) is told by its prices, whichever candidate comes first.
    assert flat_windows(with_logs, windows).flatten().tolist() == [i == 3 for i in range(6)]
    gradients = []
    for net in (with_logs, with_prices):
        net.zero_grad()
        loss = member_losses(net, windows, targets, torch.nn.MSELoss())
        assert torch.isfinite(loss) and loss > 0
        loss.backward()
        gradients.append([param.grad.clone() for param in net.parameters()])
    # The ets learns nothing: the MLP's steps are the same beside either.
    for from_logs, from_prices in zip(*gradients, strict=True):
        assert from_logs.abs().sum() > 0
        torch.testing.assert_close(from_logs, from_prices)


def test_log_members_loss_is_of_logarithms_where_there_are_some() -> None:
    net = network("log")
    net.core.fit_to_series([growing_season(7)])
    windows, targets = awkward_windows()
    outputs, inputs, loc, scale = net.member_outputs(windows)
    expected = (
        outputs[:, :, 0] + inputs[:, :, -1:] - (torch.log(targets / windows[:, -1:]) - loc) / scale
    ) ** 2
    with torch.no_grad():
        loss = member_losses(net, windows, targets, torch.nn.MSELoss())
    # Only the growing windows with every target above zero count (0 and 5 of the six); the
    # others weigh nothing, and their rows are zeros in the mean.
    measured = expected[:, [0, 5]]
    torch.testing.assert_close(loss, measured.sum() / (len(windows) * HORIZON))


def test_log_members_need_an_anchor_on_the_last_price() -> None:
    core = FittedHoltWinters(1, WINDOW, HORIZON, SEASON, values="log")
    scaler = WindowScaler("per_window", 0.0, 1.0, 1e-4)
    with pytest.raises(ValueError, match="log-value members needs anchor='last'"):
        PriceForecaster(core, [scaler], WINDOW, HORIZON, anchor="none")


def test_values_is_prices_or_log(make_cfg) -> None:
    with pytest.raises(ConfigError) as refused:
        validate_config(make_cfg("model=ets", "model.values=linear"))
    assert str(refused.value) == "model.values is 'linear'; choose one of 'prices' or 'log'."


# A lone ets of logarithms on the synthetic seasonal series (a season of 20).
LONE_LOG = (*LONE, "model.values=log")


@pytest.fixture(scope="module")
def log_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_once(tmp_path_factory, "ets_log", *LONE_LOG)


def test_a_lone_ets_of_logarithms_saves_its_fit_and_forecasts_the_same_after_reload(
    log_run: Path,
) -> None:
    prepared = PreparedData.load(log_run / "prepared")
    net, spec = saved_network(log_run / "model")
    assert spec["network"]["values"] == "log"
    expected = fit_panel([np.log(s) for s in prepared.splits["train"].segments()], 20)
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(net.core, name).numpy(), value, rtol=1e-6)
    window = spec["previous_time_window"]
    windows = np.stack([prepared.splits["test"].segments()[0][i : i + window] for i in (0, 3)])
    with torch.no_grad():
        direct = net(torch.tensor(windows, dtype=torch.float32)).double().numpy()
    served, bands = open_model_dir(log_run / "model").forecast(windows)
    np.testing.assert_allclose(served, direct, rtol=1e-6)
    assert not np.allclose(served, windows[:, -1:])
    assert (bands["95"][0] < bands["80"][0]).all()
    metrics = json.loads((log_run / "metrics.json").read_text())
    assert metrics["test"]["mase"] < 0.8 * metrics["test"]["naive_mase"]
    # Its loss is measured in its own space, as every member's is (a sweep over model.values
    # by val/loss compares two numbers, not a number and nothing).
    assert 0 < metrics["val"]["loss"] < 10


def test_a_lone_ets_of_logarithms_names_its_members_so(log_run: Path) -> None:
    _, spec = saved_network(log_run / "model")
    names = [member["name"] for member in spec["combination"]["members"]]
    assert names[0] == f"ets (log values) on {spec['previous_time_window']} values, per_window"
    # An ensemble names its log candidate so too.
    candidates = [
        {"kind": "mlp", "window": 10, "network": {}},
        {"kind": "ets", "window": None, "network": spec["network"]},
    ]
    assert model_kind("ensemble").model_names({"candidates": candidates}, 48) == [
        "mlp on 10 values",
        "ets (log values) on 48 values",
    ]


def test_a_spec_saved_before_values_smooths_prices(log_run: Path) -> None:
    _, spec = saved_network(log_run / "model")
    assert build_price_forecaster(spec).core.log_values
    del spec["network"]["values"]
    assert not build_price_forecaster(spec).core.log_values


def test_a_calm_window_is_forecast_alike_at_any_level() -> None:
    """The logarithms are of prices over the last one: in float32, the log of a price of a
    million kept 10 bits for the window's moves (0.35e-6 of the level apart from the same
    window at 1, against 0.09e-6 now, as for prices)."""
    net = network("log")
    net.core.fit_to_series([growing_season(3)])
    t = np.arange(WINDOW)
    moves = np.random.default_rng(0).normal(0, 1e-5, WINDOW).cumsum()
    shape = 1 + 2e-5 * np.sin(2 * np.pi * t / SEASON) + moves
    changes = []
    for level in (1.0, 1e3, 1e6, 7.3e6):
        window = torch.tensor(level * shape[None], dtype=torch.float32)
        with torch.no_grad():
            changes.append((net(window).double() - float(window[0, -1])).numpy()[0] / level)
    assert np.abs(np.array(changes) - changes[0]).max() < 0.2e-6


def test_log_members_loss_is_alike_at_any_level() -> None:
    """A lone ets of logarithms told flat windows by the spread of its logarithms against a
    floor in prices: at a level of a million every window of a walk moving 0.5% a day was
    flat, and its loss read 0."""
    steps = np.random.default_rng(11).normal(0, 0.005, 200).cumsum()
    losses = []
    for level in (100.0, 1e6):
        core = FittedHoltWinters(1, WINDOW, HORIZON, SEASON, values="log")
        scaler = WindowScaler("per_window", 0.0, 1.0, 1e-4, level=level)
        net = PriceForecaster(core, [scaler], WINDOW, HORIZON, anchor="last").eval()
        series = level * np.exp(steps)
        net.core.fit_to_series([series[:120]])
        windows, targets = rolling_windows(series, 120)
        with torch.no_grad():
            losses.append(
                float(
                    member_losses(net, windows, torch.tensor(targets).float(), torch.nn.MSELoss())
                )
            )
    assert losses[0] > 0.1
    assert losses[1] == pytest.approx(losses[0], rel=1e-2)
