"""The network: shapes, scaling inside the model, flat windows, metrics in price units."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stockcast.forecasting import (
    forecast_errors,
    naive_forecast,
    pooled_errors,
    seasonal_naive_forecast,
)
from stockcast.models.forecaster import Forecaster
from stockcast.models.losses import make_loss
from stockcast.models.net import MLP, WindowScaler, build_price_forecaster

SPEC = {
    "previous_time_window": 10,
    "next_time_window": 5,
    "mlp": {
        "hidden_sizes": [16, 16],
        "activation": "relu",
        "dropout": 0.0,
        "anchor": "none",
        "quantiles": [],
    },
    "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
}


def test_mlp_shapes() -> None:
    mlp = MLP(10, 5, [100, 100], "gelu", dropout=0.1)
    assert mlp(torch.randn(7, 10)).shape == (7, 5)
    linears = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 100), (100, 100), (100, 5)]


def test_per_window_forecast_moves_with_the_price_level() -> None:
    torch.manual_seed(0)
    net = build_price_forecaster(SPEC).double()
    prices = 100 + torch.randn(4, 10, dtype=torch.float64).cumsum(1)
    # Affine equivariance: scale each window by a and shift by b, the forecast follows exactly.
    torch.testing.assert_close(net(3.0 * prices + 50.0), 3.0 * net(prices) + 50.0)


@pytest.mark.parametrize("kind", ["per_window", "standard", "minmax", "none"])
@pytest.mark.parametrize("level", [0.0, 1e-6, 123.45])
def test_flat_windows_give_finite_forecasts(kind: str, level: float) -> None:
    spec = {**SPEC, "scaler": {**SPEC["scaler"], "kind": kind}}
    net = build_price_forecaster(spec)
    out = net(torch.full((3, 10), level))
    assert out.shape == (3, 5) and torch.isfinite(out).all()


def test_global_scaler_uses_its_fitted_statistics() -> None:
    scaler = WindowScaler("standard", loc=100.0, scale=4.0)
    loc, scale = scaler.statistics(torch.zeros(2, 10))
    assert loc.tolist() == [[100.0], [100.0]] and scale.tolist() == [[4.0], [4.0]]


def test_metrics_match_hand_computation() -> None:
    actual = np.array([[100.0, 102.0], [50.0, 0.0]])
    forecast = np.array([[101.0, 100.0], [55.0, 1.0]])
    per_step = forecast_errors(forecast, actual, mase_scale=2.0)
    np.testing.assert_allclose(per_step["mae"], [3.0, 1.5])
    np.testing.assert_allclose(per_step["rmse"], [np.sqrt(13.0), np.sqrt(2.5)])
    np.testing.assert_allclose(per_step["mape"], [100 * (0.01 + 0.1) / 2, 100 * 2 / 102])
    np.testing.assert_allclose(per_step["mase"], [1.5, 0.75])
    pooled = pooled_errors(forecast, actual, 2.0)
    assert pooled["mae"] == pytest.approx(9.0 / 4)


def test_baselines() -> None:
    inputs = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(naive_forecast(inputs, 3), [[6.0, 6.0, 6.0]])
    np.testing.assert_array_equal(
        seasonal_naive_forecast(inputs, 5, 2), [[5.0, 6.0, 5.0, 6.0, 5.0]]
    )


@pytest.mark.parametrize("name", ["mse", "mae", "huber"])
def test_losses(name: str) -> None:
    loss = make_loss(name)
    assert loss(torch.zeros(3), torch.ones(3)).item() > 0


def test_forecaster_steps_run_on_lists_of_minibatches() -> None:
    net = build_price_forecaster(SPEC)
    module = Forecaster(net, make_loss("mse"), lambda params: torch.optim.SGD(params, lr=0.1))
    windows = 100 + torch.randn(8, 15).cumsum(1)
    assert module.predict_step(windows, 0).shape == (8, 5)
    torch.testing.assert_close(module(windows[:, :10]), net(windows[:, :10]))
