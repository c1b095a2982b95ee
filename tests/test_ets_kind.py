"""The ets kind: exponential smoothing whose form and parameters AutoETS fits by likelihood on the
series a network trains on, held fixed and run over each window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from statsforecast.models import AutoETS

from stockcast.config.schema import validate_config
from stockcast.data.prepared import PreparedData
from stockcast.errors import ConfigError
from stockcast.models.kinds.ets import LAST_VALUE, FittedHoltWinters, fit_panel, fit_series
from stockcast.serving.model import open_model_dir
from stockcast.training.fixed_steps import refit_network
from stockcast.training.refit import history_for_refit
from tests.conftest import (
    AS_OF,
    LENIENT_GATE,
    global_state_restored,
    run_local_pipeline,
    run_train,
    seed_store,
    trained_once,
)
from tests.test_season_kinds import forecast_of, holt_winters_by_loop, saved_network

MONTHS = np.arange(144)


def seasonal_trend(seed: int) -> np.ndarray:
    """Ten years of monthly values: a trend, a 12-month season and noise."""
    noise = np.random.default_rng(seed).normal(0, 1.0, len(MONTHS))
    return 100 + 0.4 * MONTHS + 6 * np.sin(2 * np.pi * MONTHS / 12) + noise


def regression_start(x: np.ndarray, season: int, span: int) -> tuple[float, float, list[float]]:
    """Level and trend at the end of the first `span` values and the season indices from the
    next value's, of a least-squares line plus season indices fitted to all of `x` (a whole
    number of seasons): the indices by constrained least squares, a mean-zero design."""
    t = np.arange(len(x), dtype=np.float64)
    design = [np.ones_like(t), t]
    if season > 1:
        design += [(t % season == k).astype(float) for k in range(season)]
    coefficients = np.linalg.lstsq(np.stack(design, 1), x, rcond=None)[0]
    if season <= 1:
        return coefficients[0] + coefficients[1] * (span - 1), coefficients[1], []
    indices = coefficients[2:] - coefficients[2:].mean()
    intercept = coefficients[0] + coefficients[2:].mean()
    level = intercept + coefficients[1] * (span - 1)
    return level, coefficients[1], [indices[(span + j) % season] for j in range(season)]


def test_the_fit_is_autoets_additive_form_in_the_maps_terms() -> None:
    values = seasonal_trend(0)
    fitted = fit_series(values, 12, trends=("none", "additive", "damped"))
    assert fitted["seasonal"] == 1.0
    reference = AutoETS(season_length=12, model="ZZA").fit(values).model_
    alpha, beta, gamma, phi = reference["par"][:4]
    assert fitted["alpha"] == pytest.approx(alpha)
    assert fitted["gamma"] == pytest.approx(gamma)
    damped = "Ad" in reference["method"]
    assert fitted["beta"] == pytest.approx(beta)
    assert fitted["phi"] == pytest.approx(phi if damped else 1.0)
    # A walk has no season and, here, no trend: no trend is beta = phi = 0 (the trend drops out).
    walk = fit_series(100 + np.random.default_rng(1).normal(size=200).cumsum(), 12)
    assert walk["seasonal"] == 0.0 and walk["gamma"] == 0.0
    assert walk["beta"] == 0.0 and walk["phi"] == 0.0
    # By default the trend is damped or absent: an undamped one would carry the train split's
    # slope on for ever.
    assert fit_series(values, 12)["phi"] < 1.0
    assert fit_series(values, 12, trends=("additive",))["phi"] == 1.0
    # Too short for any form: the parameters that repeat the last value.
    assert fit_series(np.array([1.0, 2.0, 1.5, 3.0]), 12) == LAST_VALUE
    # A constant series has no ETS form either: it repeats its value.
    assert fit_series(np.full(100, 5.0), 12) == LAST_VALUE


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.trends=[linear]", "model.trends is 'linear'; choose one of 'none', 'additive' or"),
        ("model.trends=[]", "model.trends is []; it must be a list of trend forms from"),
    ],
)
def test_the_trend_forms_are_checked(make_cfg, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg("model=ets", override))
    assert str(caught.value).startswith(message)


def test_a_panel_takes_each_numbers_median_over_its_series() -> None:
    series = [seasonal_trend(seed) for seed in (0, 1, 2)]
    fits = [fit_series(values, 12) for values in series]
    panel = fit_panel(series, 12)
    for name, value in panel.items():
        assert value == pytest.approx(np.median([fit[name] for fit in fits]))
    # A season where half the series have one: never half a season.
    walk = 100 + np.random.default_rng(1).normal(size=200).cumsum()
    assert fit_series(walk, 12)["seasonal"] == 0.0
    assert fit_panel([series[0], walk], 12)["seasonal"] == 1.0
    assert fit_panel([series[0], walk, walk], 12)["seasonal"] == 0.0


@pytest.mark.parametrize("seasonal", [1.0, 0.0])
def test_the_fitted_map_is_the_textbook_recursion(seasonal: float) -> None:
    core = FittedHoltWinters(members=1, window=36, horizon=5, season=12).double()
    numbers = {"alpha": 0.3, "beta": 0.05, "gamma": 0.2, "phi": 0.9, "seasonal": seasonal}
    with torch.no_grad():
        for name, value in numbers.items():
            getattr(core, name).fill_(value)
    core.eval()
    x = seasonal_trend(3)[:36]
    # The loop's gamma is the textbook share of what the level leaves; AutoETS's (the core's) is
    # the error's weight, 0.2 = 0.2857 * (1 - 0.3).
    p = {"alpha": 0.3, "beta": 0.05, "gamma": 0.2 / 0.7, "phi": 0.9}
    # It starts from a least-squares line plus twelve season indices summing to zero, fitted
    # to the window's whole seasons (all 36 values here): their values after its first 12.
    start = regression_start(x, 12 if seasonal else 1, 12)
    # No season: the recursion without one, from the same first span (one season of values).
    expected = holt_winters_by_loop(x, p, 12 if seasonal else 1, 12, 5, start=start)
    np.testing.assert_allclose(forecast_of(core, x), expected, rtol=1e-6)


def test_the_last_values_parameters_repeat_the_last_value() -> None:
    core = FittedHoltWinters(members=1, window=24, horizon=5, season=12).eval()
    window = seasonal_trend(4)[:24]
    np.testing.assert_allclose(forecast_of(core, window), window[-1], rtol=1e-6)


def test_the_fitted_map_is_kept_through_training_and_made_again_after_a_fit() -> None:
    """No optimizer steps ets' numbers, so its map is made once, not at every validation (a
    fit switches to evaluation and back each time); a fit of the numbers makes it again."""
    core = FittedHoltWinters(members=1, window=24, horizon=5, season=12).eval()
    window = seasonal_trend(4)[:24]
    kept = core.served_weights()
    core.train()
    core.eval()
    assert core.served_weights() is kept
    core.fit_to_series([seasonal_trend(5)])
    assert not torch.equal(core.served_weights(), kept)
    fresh = FittedHoltWinters(members=1, window=24, horizon=5, season=12).eval()
    fresh.load_state_dict(core.state_dict())
    np.testing.assert_allclose(forecast_of(core, window), forecast_of(fresh, window))


# The synthetic seasonal series (a season of 20) of 160 values: few validation windows, so
# rolling-origin folds too.
LONE = (
    "model=ets",
    "data=seasonal",
    "data.length=160",
    "data.previous_time_window=auto",
    "fit.naive_fallback=false",
    "logger=none",
)


@pytest.fixture(scope="module")
def lone_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_once(tmp_path_factory, "ets", *LONE)


def test_a_lone_ets_fit_warns_of_no_missing_optimizer(tmp_path: Path) -> None:
    """An ets fit runs no optimizer on purpose: Lightning warned that it would, once for the fit
    and again for every fold's, with nothing for a user to change."""
    import warnings

    from stockcast.config.quiet import silence_library_noise

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_library_noise()
        run_train(tmp_path, tmp_path / "run", *LONE)
    assert [str(w.message) for w in caught if "optimizer" in str(w.message)] == []
    assert (tmp_path / "run" / "model").is_dir()


def test_a_lone_ets_is_fitted_not_trained_and_beats_the_last_price(lone_run: Path) -> None:
    metrics = json.loads((lone_run / "metrics.json").read_text())
    assert metrics["optimizer_steps"] == 0 and metrics["best_step"] == 0
    assert metrics["test"]["mase"] < 0.8 * metrics["test"]["naive_mase"]
    # Each fold fitted its own ETS on its shorter history (unfitted, it would be the last price,
    # 1.0 of its error).
    assert metrics["folds"]["mae_vs_naive"] < 0.9


def test_a_lone_ets_saves_the_numbers_its_train_split_gives(lone_run: Path) -> None:
    prepared = PreparedData.load(lone_run / "prepared")
    expected = fit_panel(prepared.splits["train"].segments(), 20)
    net, spec = saved_network(lone_run / "model")
    assert spec["kind"] == "ets"
    assert spec["network"] == {
        "season_length": 20,
        "trends": ["none", "damped"],
        "values": "prices",
    }
    assert spec["previous_time_window"] == 40  # two seasons: as many as 160 values leave room for
    assert expected["seasonal"] == 1.0
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(net.core, name).numpy(), value, rtol=1e-6)
    code = lone_run / "model" / "code" / "stockcast" / "models" / "kinds"
    assert sorted(p.name for p in code.glob("*.py")) == ["__init__.py", "es.py", "ets.py"]


def test_a_lone_ets_forecasts_the_same_after_reload(lone_run: Path) -> None:
    net, spec = saved_network(lone_run / "model")
    windows = np.stack([seasonal_trend(seed)[: spec["previous_time_window"]] for seed in (5, 6)])
    with torch.no_grad():
        direct = net(torch.tensor(windows, dtype=torch.float32)).double().numpy()
    served, bands = open_model_dir(lone_run / "model").forecast(windows)
    np.testing.assert_allclose(served, direct, rtol=1e-6)
    assert set(bands) == {"80", "95"}
    assert (bands["95"][0] < bands["80"][0]).all()


# 40: the budget of an ensemble's evaluated fit whose refit kept only its ets candidate (the
# trainer is given no steps where nothing learns).
@pytest.mark.parametrize("steps", [0, 40])
def test_a_refit_fits_its_ets_on_its_own_history(lone_run: Path, make_cfg, steps: int) -> None:
    prepared = PreparedData.load(lone_run / "prepared")
    history = history_for_refit(prepared, ("train", "val"))
    cfg = make_cfg(*LONE)
    net = refit_network(cfg, history, optimizer_steps=steps, batch_size=8).net
    expected = fit_panel(history.splits["train"].segments(), 20)
    assert expected != fit_panel(prepared.splits["train"].segments(), 20)
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(net.core, name).numpy(), value, rtol=1e-6)


@pytest.mark.slow
def test_a_warm_started_ets_fits_its_own_train_split(store_template: Path, tmp_path: Path) -> None:
    """A champion's fitted numbers are not a warm start's: the warm fit takes no steps and
    fits AutoETS on its own train split (another seed's series here)."""
    store = seed_store(store_template, tmp_path / "store")
    with global_state_restored():
        ran = run_local_pipeline(
            store, *LONE, AS_OF, "data.require_new_data=false", "seed=3", *LENIENT_GATE
        )
    assert "version 1 as champion" in ran.stdout
    run_train(store, tmp_path / "warm", *LONE, AS_OF, "seed=4", "train.init_from=champion")
    metrics = json.loads((tmp_path / "warm" / "metrics.json").read_text())
    assert metrics["warm_start"]["version"] == 1 and metrics["optimizer_steps"] == 0
    prepared = PreparedData.load(tmp_path / "warm" / "prepared")
    expected = fit_panel(prepared.splits["train"].segments(), 20)
    net, _ = saved_network(tmp_path / "warm" / "model")
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(net.core, name).numpy(), value, rtol=1e-6)
