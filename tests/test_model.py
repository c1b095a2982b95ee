"""The network: shapes, scaling inside the model, flat windows, metrics in price units."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from stockcast.data.scaling import fit_scaler
from stockcast.forecasting.baselines import (
    naive_forecast,
    seasonal_naive_forecast,
    seasonal_naive_from_history,
)
from stockcast.forecasting.metrics import (
    forecast_errors,
    inverse_mse_weights,
    pooled_errors,
    pooled_naive_scale,
)
from stockcast.models.kinds.mlp import MLP
from stockcast.models.level_range import (
    changed_windows,
    combine_member_forecasts,
    window_weights,
)
from stockcast.models.scaling import WindowScaler
from stockcast.models.spec import build_price_forecaster, load_weights
from stockcast.training.losses import (
    forecast_and_outputs,
    make_loss,
    member_losses,
    outputs_loss,
)
from stockcast.training.module import Forecaster
from tests.conftest import give_outputs

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
    assert mlp(torch.randn(1, 7, 10)).shape == (1, 7, 5)
    assert [tuple(w.shape) for w in mlp.weights] == [(1, 10, 100), (1, 100, 100), (1, 100, 5)]
    stacked = MLP(12, 5, [16], "relu", 0.0, members=3, member_inputs=[10, 12, 10])
    assert stacked(torch.randn(3, 7, 12)).shape == (3, 7, 5)
    # A member with fewer inputs holds zero weights for the inputs it never gets.
    assert (
        stacked.weights[0][0, 10:].abs().sum() == 0 and stacked.weights[0][1, 10:].abs().sum() > 0
    )


@pytest.mark.parametrize("dropout", [0.2, 0.5, 0.9])
def test_dropout_drops_its_share_and_scales_what_it_keeps(dropout: float) -> None:
    """The mask is made from 16 random bits per value: any shape (not only multiples of the
    four values one 64-bit draw gives), about `dropout` of them zero, the rest 1 / (1 - dropout)
    so the expected activation is unchanged, and a new draw at every step."""
    mlp = MLP(input_size=4, horizon=2, hidden_sizes=[7], activation="relu", dropout=dropout)
    torch.manual_seed(0)
    values = torch.ones(3, 20001, 7, dtype=torch.float64)
    mask = mlp._dropout_mask(values)
    assert mask.shape == values.shape and mask.dtype == torch.float64
    assert mask.unique().tolist() == [0.0, pytest.approx(1 / (1 - dropout))]
    assert float((mask == 0).double().mean()) == pytest.approx(dropout, abs=0.005)
    assert float(mask.mean()) == pytest.approx(1.0, abs=0.02)
    assert not torch.equal(mask, mlp._dropout_mask(values))


def test_per_window_forecast_moves_with_the_price_level() -> None:
    torch.manual_seed(0)
    net = build_price_forecaster(SPEC).double()
    prices = 100 + torch.randn(4, 10, dtype=torch.float64).cumsum(1)
    # Affine equivariance: scale each window by a and shift by b, the forecast follows exactly.
    torch.testing.assert_close(net(3.0 * prices + 50.0), 3.0 * net(prices) + 50.0)


def test_a_per_window_forecast_follows_the_price_unit_down_to_tiny_prices() -> None:
    """A token priced at 1e-8 moves like one priced at 1: a scale floor with a fixed absolute
    term (float32's eps) had flattened windows below about 1e-5 (+23% at 1e-8). The term is a
    share of the data's own size (`level`), so a window of zeros keeps a unit of that size."""
    torch.manual_seed(0)
    prices = 100 + torch.randn(4, 10).cumsum(1)
    for unit in (1.0, 1e-4, 1e-8, 1e-12):
        scaler = fit_scaler("per_window", prices.flatten().double().numpy() * unit, 1e-4)
        torch.manual_seed(0)
        net = build_price_forecaster({**SPEC, "scaler": scaler})
        give_outputs(net)
        if unit == 1.0:
            expected = net(prices)
        torch.testing.assert_close(net(prices * unit) / unit, expected, rtol=1e-4, atol=0)
    # In a panel beside a stock at 30,000 the token keeps its own spread: the size is the
    # smallest series', not the panel's pooled mean.
    token, stock = prices.flatten().double().numpy() * 1e-8, prices.flatten().double().numpy() * 300
    scaler = fit_scaler("per_window", np.r_[stock, token], 1e-4, [stock, token])
    torch.manual_seed(0)
    net = build_price_forecaster({**SPEC, "scaler": scaler})
    give_outputs(net)
    torch.testing.assert_close(net(prices * 1e-8) / 1e-8, net(prices), rtol=1e-4, atol=0)


@pytest.mark.parametrize("kind", ["standard", "per_window_level", "minmax"])
def test_train_statistics_follow_the_price_unit_down_to_tiny_prices(kind: str) -> None:
    """Prices near 1e-6 are prices near 1 in another unit: a floor of a share of at least 1
    made their train spread 1e-4, two thousand times their own, and the global members read
    every window as the same flat line."""
    prices = 1 + 0.05 * np.random.default_rng(0).standard_normal(200).cumsum() / 14
    expected = fit_scaler(kind, prices, 1e-4)
    for unit in (1e-3, 1e-6, 1e-9):
        scaler = fit_scaler(kind, prices * unit, 1e-4)
        assert scaler["loc"] == pytest.approx(expected["loc"] * unit, rel=1e-9)
        assert scaler["scale"] == pytest.approx(expected["scale"] * unit, rel=1e-9)


def test_the_default_members_forecast_tiny_prices_as_they_do_ones_near_1() -> None:
    torch.manual_seed(0)
    prices = 1 + 0.01 * torch.randn(4, 10, dtype=torch.float64).cumsum(1)
    kinds = ["per_window", "standard", "per_window_level"]
    forecasts = []
    for unit in (1.0, 1e-6):
        scaler = fit_scaler(kinds, prices.flatten().numpy() * unit, 1e-4)
        torch.manual_seed(0)
        net = build_price_forecaster({**SPEC, "scaler": scaler}).double()
        give_outputs(net)
        forecasts.append(net(prices * unit) / unit)
    torch.testing.assert_close(forecasts[1], forecasts[0], rtol=1e-6, atol=0)


def test_a_model_fitted_at_one_level_forecasts_calm_windows_alike_at_any_other() -> None:
    """The floor's absolute term, in the size of the data the model was fitted on, held for a
    window of any level: a model of prices near 100 scaled a flat window at 1e-7 by 1.2e-5, a
    hundred times its price, and forecast it 6% away from itself, its bands leaving it out."""
    torch.manual_seed(0)
    prices = 100 + torch.randn(4, 10).cumsum(1)
    scaler = fit_scaler("per_window", prices.flatten().double().numpy(), 1e-4)
    net = build_price_forecaster({**SPEC, "scaler": scaler})
    give_outputs(net)
    flat, calm = torch.ones(1, 10), 1 + 1e-6 * torch.randn(1, 10).cumsum(1)
    for window in (flat, calm):
        expected = net(window)
        for unit in (1e3, 1e-4, 1e-7, 1e-10):
            torch.testing.assert_close(net(window * unit) / unit, expected, rtol=1e-4, atol=0)


def test_a_window_of_zeros_is_scaled_in_the_datas_own_size() -> None:
    """Data allowed zeros (a shop closed for a week): a floor of float32's smallest number
    scaled the next day's sale of 1 past float32's largest, and the fit diverged; with the
    default members, the level member's log of it made the forecast NaN."""
    scaler = fit_scaler(
        ["per_window", "standard", "per_window_level"], np.r_[np.zeros(20), 1e8 * np.ones(20)], 1e-4
    )
    net = build_price_forecaster({**SPEC, "scaler": scaler})
    give_outputs(net)
    zeros = torch.zeros(2, 10)
    assert torch.isfinite(net(zeros)).all()
    member = net.scalers[0]
    loc, scale = member.statistics(zeros)
    assert torch.isfinite((torch.ones(2, 1) - loc) / scale).all()


@pytest.mark.parametrize("kind", ["per_window", "per_window_level", "standard", "minmax", "none"])
@pytest.mark.parametrize("level", [0.0, 1e-6, 123.45])
def test_flat_windows_give_finite_forecasts(kind: str, level: float) -> None:
    spec = {**SPEC, "scaler": {**SPEC["scaler"], "kind": kind}}
    net = build_price_forecaster(spec)
    out = net(torch.full((3, 10), level))
    assert out.shape == (3, 5) and torch.isfinite(out).all()


def test_global_scaler_uses_its_fitted_statistics() -> None:
    scaler = WindowScaler("standard", loc=100.0, scale=4.0, min_relative_scale=1e-4)
    loc, scale = scaler.statistics(torch.zeros(2, 10))
    assert loc.tolist() == [[100.0], [100.0]] and scale.tolist() == [[4.0], [4.0]]


@pytest.mark.parametrize("width", [10, 192])
def test_a_window_scaler_uses_each_windows_mean_and_population_std(width: int) -> None:
    """Prices around 1e4 that move by dimes: the spread is four decimal orders below the level,
    where a one-pass variance loses it in float32 (the reference: numpy in float64 on the same
    float32 prices)."""
    rng = np.random.default_rng(0)
    prices = (1e4 + 0.1 * rng.standard_normal((8, width)).cumsum(axis=1)).astype(np.float32)
    scaler = WindowScaler("per_window", loc=0.0, scale=1.0, min_relative_scale=1e-9)
    loc, scale = scaler.statistics(torch.from_numpy(prices))
    exact = prices.astype(np.float64)
    np.testing.assert_allclose(loc.numpy()[:, 0], exact.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(scale.numpy()[:, 0], exact.std(axis=1), rtol=1e-3)


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


def test_a_seasonal_naive_forecast_of_a_one_value_season_is_the_naive_one() -> None:
    """A season of one value (data without a season) is the value one step back: the last one,
    repeated. The season must lie between 1 and the window, as the refusal says; 0 has none."""
    inputs = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(seasonal_naive_forecast(inputs, 3, 1), naive_forecast(inputs, 3))
    with pytest.raises(ValueError, match="between 1 and the input window length"):
        seasonal_naive_forecast(inputs, 3, 0)


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


ENSEMBLE_SCALER = fit_scaler(
    ["per_window", "standard", "per_window_level"], np.linspace(50.0, 150.0, 101), 1e-4
)


def test_a_list_of_normalizations_fits_one_member_each() -> None:
    assert ENSEMBLE_SCALER["kind"] == "per_window+standard+per_window_level"
    members = ENSEMBLE_SCALER["members"]
    assert [m["kind"] for m in members] == ["per_window", "standard", "per_window_level"]
    # Both global kinds measure against the train split's mean and std; per_window needs none.
    assert members[1]["loc"] == members[2]["loc"] == pytest.approx(100.0)
    assert members[1]["scale"] == pytest.approx(np.linspace(50.0, 150.0, 101).std())
    # One kind keeps the single-scaler spec older models were saved with.
    assert fit_scaler("standard", np.arange(4.0), 1e-4).keys() == {
        "kind",
        "loc",
        "scale",
        "min_relative_scale",
        "level",
    }


@pytest.mark.parametrize("anchor", ["none", "last"])
def test_the_ensemble_forecast_is_the_mean_of_its_members(anchor: str) -> None:
    torch.manual_seed(0)
    spec = {**SPEC, "mlp": {**SPEC["mlp"], "anchor": anchor}, "scaler": ENSEMBLE_SCALER}
    net = build_price_forecaster(spec).double()
    give_outputs(net)
    # The level member also reads the window's level and spread: two more inputs.
    assert net.core.weights[0].shape == (3, 12, 16)
    prices = 100 + torch.randn(6, 10, dtype=torch.float64).cumsum(1)
    by_member = []
    for k, scaler in enumerate(net.scalers):
        # Each member alone, as a plain MLP on its own features in its own scale.
        loc, scale = scaler.statistics(prices)
        features = (prices - loc) / scale
        if scaler.kind == "per_window_level":
            level = (loc - scaler.loc) / scaler.scale
            features = torch.cat([features, level, torch.log(scale / scaler.scale)], dim=1)
        hidden = features
        for i, (weight, bias) in enumerate(zip(net.core.weights, net.core.biases, strict=True)):
            hidden = hidden @ weight[k, : hidden.shape[1]] + bias[k]
            hidden = torch.relu(hidden) if i < 2 else hidden
        # Anchored: a change from the last price; otherwise a price in the member's scale.
        by_member.append(hidden * scale + (prices[:, -1:] if anchor == "last" else loc))
    torch.testing.assert_close(net(prices), torch.stack(by_member).mean(0))
    assert not torch.allclose(by_member[0], by_member[2])


def test_the_members_fitted_statistics_follow_a_load_and_a_move() -> None:
    """A forecast reuses the members' stacked train statistics: a load that changes the
    scalers' buffers in place, or a move that replaces them, must be seen at once."""
    torch.manual_seed(0)
    lower = fit_scaler(
        ["per_window", "standard", "per_window_level"], np.linspace(0, 100, 101), 1e-4
    )
    net = build_price_forecaster({**SPEC, "scaler": ENSEMBLE_SCALER})
    give_outputs(net)
    prices = 100 + torch.randn(4, 10).cumsum(1)
    before = net(prices)
    original = {k: v.clone() for k, v in net.state_dict().items()}
    lowered = build_price_forecaster({**SPEC, "scaler": lower}).state_dict()
    net.load_state_dict(net.state_dict() | {k: v for k, v in lowered.items() if "scalers" in k})
    fresh = build_price_forecaster({**SPEC, "scaler": lower})
    fresh.load_state_dict(net.state_dict())
    torch.testing.assert_close(net(prices), fresh(prices))
    assert not torch.allclose(net(prices), before)
    torch.testing.assert_close(net.double()(prices.double()), fresh.double()(prices.double()))
    assert all(stacked.dtype == torch.float64 for stacked in net._fitted_statistics())
    # A load that replaces the buffers (assign=True) is seen as well.
    net.load_state_dict({k: v.double() for k, v in original.items()}, assign=True)
    torch.testing.assert_close(net(prices.double()), before.double(), rtol=1e-5, atol=1e-4)
    # A network built and loaded in inference mode (no version counters) still forecasts.
    with torch.inference_mode():
        served = build_price_forecaster({**SPEC, "scaler": lower}).double()
        served.load_state_dict(fresh.state_dict())
        torch.testing.assert_close(served(prices.double()), fresh(prices.double()))


@pytest.mark.parametrize(
    ("anchor", "quantiles"), [("none", []), ("last", []), ("last", [0.1, 0.5, 0.9])]
)
def test_member_weights_combine_the_members_forecasts(anchor: str, quantiles: list[float]) -> None:
    torch.manual_seed(2)
    mlp = {**SPEC["mlp"], "anchor": anchor, "quantiles": quantiles}
    spec = {**SPEC, "mlp": mlp, "scaler": ENSEMBLE_SCALER}
    net = build_price_forecaster(spec).double()
    give_outputs(net)
    prices = 100 + torch.randn(6, 10, dtype=torch.float64).cumsum(1)
    members = net.member_forecasts(prices)
    assert members.shape == (3, 6, 5)
    torch.testing.assert_close(net(prices), members.mean(0))
    # Weights are normalised to sum to 1 and kept out of the saved state (the spec holds them).
    net.set_member_weights([2.0, 1.0, 1.0])
    torch.testing.assert_close(net(prices), 0.5 * members[0] + 0.25 * (members[1] + members[2]))
    assert "member_weights" not in net.state_dict()
    weighted = build_price_forecaster({**spec, "combination": {"weights": [0.5, 0.25, 0.25]}})
    weighted.load_state_dict(net.float().state_dict())
    torch.testing.assert_close(weighted(prices.float()), net(prices.float()))
    if anchor == "last":  # the fallback still repeats the last price exactly, weights or not
        weighted.fall_back_to_naive()
        assert torch.equal(weighted(prices.float()), prices.float()[:, -1:].expand(6, 5))
    for bad in ([1.0, 1.0], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0], [1.0, float("nan"), 1.0]):
        with pytest.raises(ValueError, match="member weights"):
            net.set_member_weights(bad)


LEVEL_RANGE = {"low": 50.0, "high": 150.0, "max_outside": 0.5}


@pytest.mark.parametrize(("anchor", "quantiles"), [("none", []), ("last", [0.1, 0.5, 0.9])])
def test_the_level_members_step_aside_for_a_window_outside_the_fitted_range(
    anchor: str, quantiles: list[float]
) -> None:
    """With a `level_range`, a window more than `max_outside` of whose values lie outside it
    (above or below) is forecast by the members that read its shape alone, their weights
    renormalised; a window no more outside than that, and a network without a range, combine
    every member."""
    torch.manual_seed(4)
    mlp = {**SPEC["mlp"], "anchor": anchor, "quantiles": quantiles}
    spec = {**SPEC, "mlp": mlp, "scaler": ENSEMBLE_SCALER}
    spec["combination"] = {"weights": [0.2, 0.3, 0.5]}
    plain = build_price_forecaster(spec).double()
    give_outputs(plain)
    ranged = build_price_forecaster(spec | {"level_range": LEVEL_RANGE}).double()
    ranged.load_state_dict(plain.state_dict())
    assert ranged.level_reading_members() == [False, True, True]
    inside = 100 + torch.randn(2, 10, dtype=torch.float64).cumsum(1)
    half_above = torch.cat([inside[:, :5], inside[:, 5:] + 100], dim=1)  # 5 of 10: not more
    six_above = torch.cat([inside[:, :4], inside[:, 4:] + 100], dim=1)
    all_below = inside - 90
    prices = torch.cat([inside, half_above, six_above, all_below])
    served = ranged.quantile_forecast(prices)
    # A window inside is combined to the bit as without the rule, whatever else is in its batch.
    assert torch.equal(served[:4], plain.quantile_forecast(prices)[:4])
    plain.set_member_weights([1.0, 0.0, 0.0])  # the per_window member alone
    torch.testing.assert_close(served[4:], plain.quantile_forecast(prices[4:]))
    set_aside = ranged.level_set_aside(prices)
    assert set_aside.tolist() == [[False] * 8, [False] * 4 + [True] * 4, [False] * 4 + [True] * 4]
    # The rule needs a member to carry the forecast: all read the level, or none, no rule.
    levelled = {**SPEC, "scaler": fit_scaler("standard", np.linspace(50.0, 150.0, 101), 1e-4)}
    assert build_price_forecaster(levelled | {"level_range": LEVEL_RANGE}).level_range is None


def test_a_window_whose_weighted_members_all_read_the_level_keeps_its_weights() -> None:
    """Members weighted 0 cannot carry a window: where every weighted member is set aside, the
    window keeps the fitted weights rather than dividing by nothing."""
    weights = torch.tensor([0.0, 0.4, 0.6], dtype=torch.float64)
    set_aside = torch.tensor([[False, False], [True, False], [True, False]])
    torch.testing.assert_close(
        window_weights(weights, set_aside), torch.stack([weights, weights], dim=1)
    )
    assert changed_windows(weights, set_aside).tolist() == [False, False]
    weights = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    expected = torch.tensor([[1.0, 0.25], [0.0, 0.25], [0.0, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(window_weights(weights, set_aside), expected)
    assert changed_windows(weights, set_aside).tolist() == [True, False]
    # A member set aside counts for nothing, even where its forecast is not a number.
    forecasts = np.array([[[1.0], [2.0]], [[np.inf], [4.0]], [[np.nan], [6.0]]])
    combined = combine_member_forecasts(forecasts, weights.numpy(), set_aside.numpy())
    np.testing.assert_allclose(combined, [[1.0], [0.25 * 2.0 + 0.25 * 4.0 + 0.5 * 6.0]])
    # So does a member of weight 0, in a window the rule leaves alone.
    combined = combine_member_forecasts(forecasts, np.array([1.0, 0.0, 0.0]), set_aside.numpy())
    np.testing.assert_array_equal(combined, [[1.0], [2.0]])


def test_inverse_mse_weights_lean_on_the_members_with_smaller_validation_errors() -> None:
    actual = np.zeros((4, 2))
    # Members off by 1, 2 and 4 everywhere: MSEs 1, 4 and 16.
    members = np.stack([actual + 1.0, actual - 2.0, actual + 4.0])
    np.testing.assert_allclose(
        inverse_mse_weights(members, actual, 1.0), np.array([16.0, 4.0, 1.0]) / 21.0
    )
    np.testing.assert_allclose(
        inverse_mse_weights(members, actual, 2.0), np.array([256.0, 16.0, 1.0]) / 273.0
    )
    # Members exact on every window share all the weight, without dividing by zero; tiny errors
    # at a high power do not overflow.
    exact = inverse_mse_weights(np.stack([actual, actual + 1.0, actual]), actual, 2.0)
    np.testing.assert_array_equal(exact, [0.5, 0.0, 0.5])
    tiny = inverse_mse_weights(
        np.stack([actual + 1e-150, actual + 2e-150, actual + 1.0]), actual, 8
    )
    np.testing.assert_allclose(tiny, np.array([65536.0, 1.0, 0.0]) / 65537.0)


@pytest.mark.parametrize("window_scale_power", [0.0, 1.0])
def test_member_losses_add_each_members_loss_in_its_own_scale(window_scale_power: float) -> None:
    torch.manual_seed(1)
    net = build_price_forecaster({**SPEC, "scaler": ENSEMBLE_SCALER})
    windows = 100 + torch.randn(8, 15).cumsum(1)
    inputs, targets = windows[:, :10], windows[:, 10:]
    expected = 0.0
    for k, member in enumerate(ENSEMBLE_SCALER["members"]):
        # The same member as a one-member network (its own weights): its loss in its own scale.
        alone = build_price_forecaster({**SPEC, "scaler": {**member, "min_relative_scale": 1e-4}})
        with torch.no_grad():
            for mine, theirs in zip(alone.core.weights, net.core.weights, strict=True):
                mine.copy_(theirs[k : k + 1, : mine.shape[1]])
            for mine, theirs in zip(alone.core.biases, net.core.biases, strict=True):
                mine.copy_(theirs[k : k + 1])
        expected += member_losses(alone, inputs, targets, make_loss("mse"), window_scale_power)
    # The member masks follow the network to a device but are not saved (the spec says which).
    assert {"window_members", "level_members"} <= dict(net.named_buffers()).keys()
    assert not {"window_members", "level_members"} & net.state_dict().keys()
    # Each member weighs its windows by its own scales (the standard member's are constant).
    loss = member_losses(net, inputs, targets, make_loss("mse"), window_scale_power)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("power", [0.0, 0.5])
@pytest.mark.parametrize("flat", [0.0, 250.0])
def test_a_window_that_did_not_move_adds_nothing_to_the_per_window_loss(
    flat: float, power: float
) -> None:
    """A window of zeros (or an unchanged price) has its spread at the scaler's floor: its next
    move over that floor was thousands of scaled units, and squared it was the whole loss. The
    per-window members learn nothing from it; a member on fixed statistics still does, and a
    window that moves, however little (a pegged price), still counts."""
    torch.manual_seed(2)
    net = build_price_forecaster({**SPEC, "scaler": ENSEMBLE_SCALER})
    give_outputs(net)
    moving = 100 + torch.randn(3, 15).cumsum(1)
    still = torch.cat([torch.full((1, 10), flat), torch.full((1, 5), flat + 3.0)], 1)
    pegged = 1.0 + 3e-5 * torch.randn(1, 15)
    loss = make_loss("mse")
    window_members, fixed_member = [0, 2], 1  # per_window, per_window_level; standard

    def gradients(windows: torch.Tensor) -> list[torch.Tensor]:
        """Each member's gradient over every core parameter, (members, parameters)."""
        net.zero_grad()
        member_losses(net, windows[:, :10], windows[:, 10:], loss, power).backward()
        return torch.cat([p.grad.flatten(1) for p in net.core.parameters()], 1)

    both = member_losses(
        net, torch.cat([moving, still])[:, :10], torch.cat([moving, still])[:, 10:], loss, power
    )
    alone = member_losses(net, moving[:, :10], moving[:, 10:], loss, power)
    assert torch.isfinite(both) and both < 10 * alone
    on_still = gradients(still)
    assert torch.count_nonzero(on_still[window_members]) == 0
    assert torch.count_nonzero(on_still[fixed_member]) > 0
    assert torch.count_nonzero(gradients(pegged)[window_members]) > 0


def _validate(module: Forecaster, windows: torch.Tensor, batch_size: int) -> dict[str, float]:
    """The metrics `trainer.validate` logs for `windows` in batches of `batch_size`."""
    trainer = L.Trainer(
        logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu"
    )
    loader = torch.utils.data.DataLoader(windows, batch_size=batch_size)
    return trainer.validate(module, loader, verbose=False)[0]


def test_the_forecaster_trains_and_validates_with_its_window_scale_power() -> None:
    torch.manual_seed(5)
    net = build_price_forecaster(SPEC)
    give_outputs(net)
    windows = 100 + torch.randn(6, 15).cumsum(1) * torch.linspace(0.1, 5.0, 6)[:, None]
    inputs, targets = windows[:, :10], windows[:, 10:]
    module = Forecaster(net, make_loss("mse"), torch.optim.Adam, window_scale_power=1.0)
    weighted = member_losses(net, inputs, targets, make_loss("mse"), 1.0)
    torch.testing.assert_close(module.training_loss(windows), weighted)
    assert not torch.allclose(weighted, member_losses(net, inputs, targets, make_loss("mse"), 0.0))
    # Validation reports (and the LR scheduler watches) the same weighted loss.
    logged = _validate(module, windows, batch_size=len(windows))
    assert logged["val/loss"] == pytest.approx(weighted.item(), rel=1e-6)


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_the_validation_loss_does_not_depend_on_the_evaluation_batch_size(loss: str) -> None:
    """A window weighs relative to the mean scale of every validation window, not of its batch:
    batched by 3 the loss was 8.77 against 6.34 in one batch."""
    torch.manual_seed(5)
    net = build_price_forecaster(SPEC)
    give_outputs(net)
    windows = 100 + torch.randn(8, 15).cumsum(1) * torch.linspace(0.1, 5.0, 8)[:, None]
    module = Forecaster(net, make_loss(loss), torch.optim.Adam, window_scale_power=0.5)
    whole = _validate(module, windows, batch_size=len(windows))
    for batch_size in (3, 1):
        batched = _validate(module, windows, batch_size=batch_size)
        assert batched["val/loss"] == pytest.approx(whole["val/loss"], rel=1e-5)
        assert batched["val/mase"] == pytest.approx(whole["val/mase"], rel=1e-5)


def test_window_scale_power_one_weighs_per_window_errors_in_price_units() -> None:
    torch.manual_seed(4)
    net = build_price_forecaster(SPEC).double()
    give_outputs(net)
    # Windows at very different spreads: calm ones near 100, volatile ones near 500.
    spread = torch.tensor([0.1, 0.1, 5.0, 5.0], dtype=torch.float64)[:, None]
    level = torch.tensor([100.0, 100.0, 500.0, 500.0], dtype=torch.float64)[:, None]
    windows = level + spread * torch.randn(4, 15, dtype=torch.float64)
    inputs, targets = windows[:, :10], windows[:, 10:]
    mean_scale = inputs.std(1, unbiased=False).mean()
    in_prices = ((net(inputs) - targets) / mean_scale).pow(2).mean()
    torch.testing.assert_close(
        member_losses(net, inputs, targets, make_loss("mse"), 1.0), in_prices
    )
    # Power 0 is every window in its own scale (a calm window's error counts as much as a
    # volatile one's); 0.5 weighs each squared scaled error by its scale over the mean scale.
    scale = inputs.std(1, unbiased=False, keepdim=True)
    scaled_errors = ((net(inputs) - targets) / scale).pow(2)
    torch.testing.assert_close(
        member_losses(net, inputs, targets, make_loss("mse"), 0.0), scaled_errors.mean()
    )
    torch.testing.assert_close(
        member_losses(net, inputs, targets, make_loss("mse"), 0.5),
        (scaled_errors * scale / mean_scale).mean(),
    )


def test_an_anchored_ensemble_starts_at_and_falls_back_to_the_last_price() -> None:
    spec = {**SPEC, "mlp": {**SPEC["mlp"], "anchor": "last"}, "scaler": ENSEMBLE_SCALER}
    net = build_price_forecaster(spec)
    prices = 100 + torch.randn(5, 10).cumsum(1)
    last = prices[:, -1:].expand(-1, 5)
    # To the bit: two fallbacks of different data (other train statistics) forecast the same.
    assert torch.equal(net(prices), last)
    with torch.no_grad():
        net.core.biases[-1].fill_(0.5)
    assert not torch.allclose(net(prices), last)
    net.fall_back_to_naive()
    assert torch.equal(net(prices), last)


def test_weights_saved_before_members_load_as_member_zero() -> None:
    torch.manual_seed(2)
    # A single-normalization model as it was saved before networks had members: one
    # nn.Sequential of Linear layers and one scaler.
    old = torch.nn.Sequential(
        torch.nn.Linear(10, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 5),
    )
    legacy = {f"mlp.layers.{k}": v for k, v in old.state_dict().items()}
    legacy |= {"scaler.loc": torch.tensor(0.0), "scaler.scale": torch.tensor(1.0)}
    loaded = build_price_forecaster(SPEC)
    load_weights(loaded, SPEC, legacy)
    prices = 100 + torch.randn(3, 10).cumsum(1)
    loc, scale = prices.mean(1, keepdim=True), prices.std(1, keepdim=True, unbiased=False)
    torch.testing.assert_close(loaded(prices), old((prices - loc) / scale) * scale + loc)


def _validation(
    stopper, mase: float, naive: float = 1.0, anchored: bool = True, sanity_checking: bool = False
):
    from types import SimpleNamespace

    trainer = SimpleNamespace(
        sanity_checking=sanity_checking,
        should_stop=False,
        callback_metrics={"val/mase": torch.tensor(mase), "val/naive_mase": torch.tensor(naive)},
    )
    stopper.on_validation_end(trainer, SimpleNamespace(net=SimpleNamespace(anchored=anchored)))
    return trainer.should_stop


def test_a_fit_that_never_beats_naive_by_the_margin_stops_after_its_patience() -> None:
    from stockcast.training.naive_gain_stopping import NaiveGainStopping

    stopper = NaiveGainStopping(min_gain=0.05, patience=3)
    # 0.96 of naive is not the 5% gain the fallback asks for: stop at the third validation.
    assert [_validation(stopper, m) for m in (1.0, 0.96, 0.97)] == [False, False, True]
    beating = NaiveGainStopping(min_gain=0.05, patience=3)
    assert not any(_validation(beating, m) for m in (1.0, 0.94, 0.99, 0.99, 0.99))
    # Without an anchor there is no fallback, so nothing is stopped; the state survives a resume.
    free = NaiveGainStopping(min_gain=0.05, patience=1)
    assert not _validation(free, 1.0, anchored=False)
    resumed = NaiveGainStopping(min_gain=0.05, patience=3)
    resumed.load_state_dict(stopper.state_dict())
    assert resumed.validations == 3 and resumed.best_ratio == pytest.approx(0.96)
    assert _validation(resumed, 1.2)
    # Switched off (fit.naive_fallback=false), nothing stops; sanity checks are not counted.
    assert not _validation(NaiveGainStopping(min_gain=0.05, patience=1, enabled=False), 1.0)
    sanity = NaiveGainStopping(min_gain=0.05, patience=1)
    assert not _validation(sanity, 1.0, sanity_checking=True) and sanity.validations == 0


def test_validation_gets_loss_and_forecast_from_one_pass_equal_to_each_alone() -> None:
    torch.manual_seed(3)
    spec = {**SPEC, "mlp": {**SPEC["mlp"], "anchor": "last"}, "scaler": ENSEMBLE_SCALER}
    net = build_price_forecaster(spec)
    give_outputs(net)
    windows = 100 + torch.randn(8, 15).cumsum(1)
    inputs, targets = windows[:, :10], windows[:, 10:]
    forecast, outputs = forecast_and_outputs(net, inputs)
    loss = outputs_loss(net, inputs, targets, make_loss("mse"), 0.5, outputs)
    torch.testing.assert_close(loss, member_losses(net, inputs, targets, make_loss("mse"), 0.5))
    assert not torch.allclose(loss, member_losses(net, inputs, targets, make_loss("mse"), 0.0))
    torch.testing.assert_close(forecast, net(inputs))


def test_an_anchored_members_loss_is_its_forecast_error_in_its_own_scale() -> None:
    torch.manual_seed(5)
    net = build_price_forecaster({**SPEC, "mlp": {**SPEC["mlp"], "anchor": "last"}}).double()
    give_outputs(net)
    windows = 100 + torch.randn(8, 15, dtype=torch.float64).cumsum(1)
    inputs, targets = windows[:, :10], windows[:, 10:]
    scale = inputs.std(1, unbiased=False, keepdim=True)
    expected = ((net(inputs) - targets) / scale).pow(2).mean()
    torch.testing.assert_close(member_losses(net, inputs, targets, make_loss("mse")), expected)


def test_training_stops_fits_that_cannot_beat_naive_by_the_fallback_margin(make_cfg) -> None:
    from stockcast.training.build import instantiate_all
    from stockcast.training.naive_gain_stopping import NaiveGainStopping

    cfg = make_cfg("fit.min_gain_over_naive=0.1")
    stoppers = [c for c in instantiate_all(cfg.callbacks) if isinstance(c, NaiveGainStopping)]
    assert [(s.min_gain, s.enabled) for s in stoppers] == [(0.1, True)]
    off = make_cfg("fit.naive_fallback=false").callbacks.naive_gain_stopping
    assert instantiate_all({"stop": off})[0].enabled is False


def test_the_seasonal_naive_forecast_reads_a_season_longer_than_the_window_from_history() -> None:
    """A weekly series' 52-week season: the window holds 20 weeks, the series' past all of it."""
    history = np.arange(200.0)  # one series; its value is its position
    first_targets = np.array([120, 150])
    from_history = seasonal_naive_from_history(history, first_targets, np.zeros(2, int), 5, 52)
    np.testing.assert_array_equal(from_history, [np.arange(68, 73), np.arange(98, 103)])
    # Where the season fits in the window, the same values as from the window alone.
    window = np.stack([history[t - 20 : t] for t in first_targets])
    np.testing.assert_array_equal(
        seasonal_naive_from_history(history, first_targets, np.zeros(2, int), 5, 3),
        seasonal_naive_forecast(window, 5, 3),
    )
    # A window with less than a season of its series behind it: no baseline at all.
    assert seasonal_naive_from_history(history, first_targets, np.array([0, 110]), 5, 52) is None


@pytest.mark.parametrize("kind", ["theta", "es"])
def test_a_kept_forecast_map_follows_fused_optimizer_steps(kind: str) -> None:
    """Fused Adam (the default optim config) updates parameters without their version
    counters: a statistical core's forecast map kept at one validation served every later
    validation with those parameters, so early stopping, the best checkpoint and the member
    weights judged Theta and ES by an earlier step's smoothing."""
    from stockcast.models.kinds.es import HoltWinters
    from stockcast.models.kinds.theta import Theta

    torch.manual_seed(0)
    core = Theta(2, 24, 3, 4) if kind == "theta" else HoltWinters(2, 24, 3, 4, 0.8)
    windows = torch.randn(2, 5, 24).cumsum(-1)
    core.eval()
    with torch.no_grad():
        before = core(windows)
    core.train()
    optimizer = torch.optim.Adam(core.parameters(), lr=0.5, fused=True)
    core(windows).pow(2).sum().backward()
    optimizer.step()
    core.eval()
    with torch.no_grad():
        after = core(windows)
        fresh = core.gate * (torch.bmm(windows, core.forecast_weights()) - windows[..., -1:])
    torch.testing.assert_close(after, fresh)
    assert not torch.allclose(after, before)


def test_a_panels_pooled_naive_scale_weighs_every_move_alike() -> None:
    """Every one-step move of every series counts once (never a move across two series): not a
    mean of each series' mean, which would let a short series count as much as a long one."""
    long, short = np.arange(5.0), np.array([0.0, 10.0])  # four moves of 1, one of 10
    assert pooled_naive_scale([long, short]) == pytest.approx((4 * 1.0 + 10.0) / 5)


def test_a_seasonal_naive_value_may_be_its_series_first() -> None:
    """A window whose season-ago value is the first of its series has one; one a value earlier
    does not (None: the report leaves seasonal naive out)."""
    history = np.arange(20.0)
    at_first = seasonal_naive_from_history(history, np.array([4]), np.array([0]), 2, 4)
    np.testing.assert_array_equal(at_first, [[0.0, 1.0]])
    assert seasonal_naive_from_history(history, np.array([4]), np.array([1]), 2, 4) is None
