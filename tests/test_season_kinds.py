"""The kinds that see past ten values: exponential smoothing, Theta, and the ensemble that weighs
them with the MLP on validation (experiment=auto)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from stockcast.config.schema import validate_config
from stockcast.data.auto_window import auto_window, series_for_auto_window
from stockcast.data.prepared import PreparedData
from stockcast.data.series import Series
from stockcast.data.split import share_outside_range, split_lengths, split_series
from stockcast.data.split_recuts import join_splits
from stockcast.errors import ConfigError
from stockcast.forecasting.windows import WindowSizes
from stockcast.models.kinds.es import HoltWinters
from stockcast.models.kinds.theta import START_ALPHA, START_TREND_SHARE, Theta
from stockcast.models.spec import build_price_forecaster, saved_forecaster
from stockcast.serving.metadata import (
    TRAINING_CONFIG_FILE,
    model_artifact,
    model_spec,
    read_model_metadata,
)
from stockcast.serving.model import open_model_dir
from tests.conftest import run_train, trained_once

SPLIT = {"train": 0.7, "val": 0.15, "test": 0.15}


def holt_winters_by_loop(
    x: np.ndarray,
    p: dict[str, float],
    season: int,
    span: int,
    horizon: int,
    start: tuple[float, float, list[float]] | None = None,
) -> np.ndarray:
    """The textbook recursion, value by value, from the same starting state: es's from the first
    two spans' means, or `start` (level and trend at the end of the first span, and the season
    indices from the next value's)."""
    b = (x[span : 2 * span].mean() - x[:span].mean()) / span if 2 * span <= len(x) else 0.0
    level = x[:span].mean() + (span - 1) / 2 * b
    s = (
        [x[i] - x[:span].mean() - (i - (span - 1) / 2) * b for i in range(season)]
        if season > 1
        else []
    )
    if start is not None:
        level, b, s = start[0], start[1], list(start[2])
    a, beta, gamma, phi = p["alpha"], p["beta"] / p["alpha"], p["gamma"], p["phi"]
    for value in x[span:]:
        first = s[0] if s else 0.0
        new_level = a * (value - first) + (1 - a) * (level + phi * b)
        b = beta * (new_level - level) + (1 - beta) * phi * b
        if s:
            s = [*s[1:], gamma * (value - new_level) + (1 - gamma) * first]
        level = new_level
    damped = np.cumsum(phi ** np.arange(1, horizon + 1))
    return np.array([level + damped[h] * b + (s[h % season] if s else 0.0) for h in range(horizon)])


def forecast_of(core: torch.nn.Module, window: np.ndarray) -> np.ndarray:
    """A single-member core's forecast for one window, in prices."""
    with torch.no_grad():
        return core(torch.tensor(window)[None, None])[0, 0].numpy() + window[-1]


@pytest.mark.parametrize(("window", "season"), [(24, 12), (40, 4), (10, 1)])
def test_the_smoothing_matrix_is_the_textbook_recursion(window: int, season: int) -> None:
    torch.manual_seed(window)
    core = HoltWinters(1, window, 5, season, min_damping=0.8).double()
    with torch.no_grad():
        for raw in core.raw.values():
            raw.normal_()
    x = np.cumsum(np.random.default_rng(season).normal(size=window)) + 10
    with torch.no_grad():
        p = {k: float(v[0]) for k, v in core.parameters_in_range().items()}
    expected = holt_winters_by_loop(x, p, core.season, core.start_span, 5)
    # The starting-state weights are built in float32 (1/12 is not exact there).
    np.testing.assert_allclose(forecast_of(core, x), expected, rtol=1e-6)


def anchored_monthly_net(kind: str, **network: float) -> torch.nn.Module:
    """An anchored network of `kind` reading two monthly seasons (24 values), 5 out."""
    return build_price_forecaster(
        {
            "kind": kind,
            "previous_time_window": 24,
            "next_time_window": 5,
            "network": {"season_length": 12, **network},
            "anchor": "last",
            "quantiles": [],
            "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
        }
    )


def test_an_anchored_smoothing_model_starts_as_the_last_price() -> None:
    net = anchored_monthly_net("es", min_damping=0.8)
    prices = torch.linspace(100, 110, 24)[None]
    np.testing.assert_allclose(net(prices).detach().numpy(), 110.0, rtol=1e-6)


def theta_by_loop(
    x: np.ndarray, alpha: float, season: int, horizon: int, theta: float = 2.0
) -> np.ndarray:
    """The textbook Theta method on one window: additive season indices from the departures from
    the least-squares line, simple exponential smoothing of the adjusted values from the first,
    1 - 1/theta of their least-squares slope as the drift (half for the classic theta = 2)."""
    n = len(x)
    t = np.arange(n)
    index = np.zeros(season)
    position = (t - n) % season
    if season > 1:
        slope, intercept = np.polyfit(t, x, 1)
        departures = x - (intercept + slope * t)
        index = np.array([departures[position == k].mean() for k in range(season)])
        index -= index.mean()
    adjusted = x - index[position] if season > 1 else x
    drift = np.polyfit(t, adjusted, 1)[0] * (1 - 1 / theta)
    level = adjusted[0]
    for value in adjusted[1:]:
        level = alpha * value + (1 - alpha) * level
    h = np.arange(horizon)
    trend = drift * (h + 1 / alpha - (1 - alpha) ** n / alpha)
    return level + trend + (index[h % season] if season > 1 else 0.0)


@pytest.mark.parametrize(
    ("window", "season", "theta"), [(48, 12, 2.0), (20, 4, 2.0), (20, 1, 1.25), (12, 12, 4.0)]
)
def test_the_theta_matrix_is_the_textbook_method(window: int, season: int, theta: float) -> None:
    core = Theta(1, window, 5, season).double()
    with torch.no_grad():
        core.raw_alpha.fill_(-0.7)
        alpha = float(core.alpha()[0])
        # The learned share of the slope is 1 - 1/theta (0.5: the classic method, its start).
        assert float(core.trend_share()[0]) == pytest.approx(0.5)
        core.raw_trend_share.fill_(float(torch.logit(torch.tensor(1 - 1 / theta))))
    rng = np.random.default_rng(window + season)
    x = 50 + np.cumsum(rng.normal(size=window)) + 3 * np.sin(np.arange(window) * 2 * np.pi / season)
    # A window shorter than two seasons keeps no season.
    expected = theta_by_loop(x, alpha, core.season, 5, theta)
    # The fixed maps are stored in float32.
    np.testing.assert_allclose(forecast_of(core, x), expected, rtol=1e-6)


def test_an_anchored_theta_starts_from_its_own_forecast_and_falls_back_to_naive() -> None:
    net = anchored_monthly_net("theta")
    prices = torch.linspace(100, 110, 24)[None]
    forecast = net(prices).detach().numpy()[0]
    assert (np.diff(forecast) > 0).all(), "the trend's drift, not the last price"
    net.fall_back_to_naive()
    np.testing.assert_allclose(net(prices).detach().numpy(), 110.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.anchor=none", "model.anchor is 'none'; the es kind forecasts the change"),
        ("model.quantiles=[0.1,0.5,0.9]", "model.quantiles is [0.1, 0.5, 0.9]; the es kind"),
    ],
)
def test_the_smoothing_kind_refuses_what_it_cannot_do(make_cfg, override: str, message: str):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_config(make_cfg("model=es", override))
    theta = message.replace("the es kind", "the theta kind")
    with pytest.raises(ConfigError, match=theta.replace("[", r"\[").replace("]", r"\]")):
        validate_config(make_cfg("model=theta", override))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.candidates.0.window=1", "has window 1 in candidate 0; it must be a whole"),
        ("+model.candidates.2.min_damping=2", "has min_damping 2 in candidate 2, which the theta"),
        ("model.candidates.0.kind=nope", "has kind 'nope' in candidate 0; choose one of"),
        ("~model.candidates.3.trends", "has no trends in candidate 3; the ets kind needs it"),
    ],
)
def test_an_ensemble_candidate_is_checked_as_its_own_kind(make_cfg, override, message) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg("experiment=auto", override))
    assert str(caught.value).startswith(f"model.candidates {message}")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "model.anchor=none",
            "model.candidates has a theta kind in candidate 2, and model.anchor is 'none'; the "
            "theta kind forecasts the change from the last price: use last.",
        ),
        (
            "model.quantiles=[0.1,0.5,0.9]",
            "model.candidates has a theta kind in candidate 2, and model.quantiles is "
            "[0.1, 0.5, 0.9]; the theta kind has conformal bands only: use [].",
        ),
    ],
)
def test_a_model_key_a_candidate_refuses_is_named_as_the_models(make_cfg, override, message):
    """It read as the candidate's own key ("model.candidates has anchor 'none' in candidate
    2"), which the config cannot set, with pydantic's "value error, " inside the sentence."""
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg("experiment=auto", override))
    assert str(caught.value) == message


def test_an_ets_candidate_written_before_values_smooths_prices(make_cfg) -> None:
    from stockcast.models.kind import model_kind

    cfg = validate_config(make_cfg("experiment=auto", "~model.candidates.3.values"))
    spec = model_kind("ensemble").network_spec(cfg.model, {"season_length": 12})
    assert spec["candidates"][3]["network"]["values"] == "prices"


AUTO_FAST = (
    "experiment=auto",
    "data=seasonal",
    "data.length=400",
    "trainer.max_steps=60",
    "fit.val_every_steps=30",
    "data.batch_size=32",
    "logger=none",
)


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_once(tmp_path_factory, "auto", *AUTO_FAST, "fit.naive_fallback=false")


def test_auto_reads_four_seasons_and_weighs_every_candidate(auto_run: Path) -> None:
    spec = model_spec(auto_run / "model")
    assert spec["kind"] == "ensemble" and spec["previous_time_window"] == 80  # 4 x 20
    kinds = [(c["kind"], c["window"]) for c in spec["network"]["candidates"]]
    assert kinds == [("mlp", 10), ("mlp", None), ("theta", None), ("ets", None)]
    assert spec["network"]["candidates"][2]["network"]["season_length"] == 20
    assert spec["network"]["candidates"][3]["network"] == {
        "season_length": 20,
        "trends": ["none", "damped"],
        "values": "prices",
    }
    metadata = read_model_metadata(auto_run / "model")
    assert (metadata["season_length"], metadata["season_from"]) == (20, "data.season_length")
    weights = spec["combination"]["weights"]
    assert len(weights) == 12 and abs(sum(weights) - 1) < 1e-9  # 4 candidates x 3 views
    # Each member's record: which model and view, its weight, its validation error; the weights
    # are the errors to the power -model.combination_power (4), normalised.
    members = spec["combination"]["members"]
    assert [m["name"] for m in members[::3]] == [
        "mlp on 10 values, per_window",
        "mlp on 80 values, per_window",
        "theta on 80 values, per_window",
        "ets on 80 values, per_window",
    ]
    # ets is fitted on the series, not on a view of the windows: its three members are one model.
    ets = [m["validation_mse"] for m in members[9:]]
    np.testing.assert_allclose(ets, ets[0], rtol=1e-5)  # float32 scaling apart
    assert spec["combination"]["power"] == 4.0
    # Its validation values stay mostly within the train split's range: every member is weighed.
    level = spec["combination"]["level_members"]
    assert level["set_aside"] is False and level["validation_outside_train_range"] < 0.5
    inverse = np.array([m["validation_mse"] for m in members]) ** -4.0
    np.testing.assert_allclose([m["weight"] for m in members], inverse / inverse.sum())
    code = auto_run / "model" / "code" / "stockcast" / "models" / "kinds"
    assert sorted(p.name for p in code.glob("*.py")) == [
        "__init__.py",
        "ensemble.py",
        "es.py",
        "ets.py",
        "mlp.py",
        "theta.py",
    ]


def test_the_share_outside_the_train_range_counts_each_series_own_values() -> None:
    rising = Series("a", np.arange(40.0))  # every later value is above its train values
    flat = Series("b", np.tile([1.0, 3.0], 20))  # never outside [1, 3]
    splits = split_series(
        [rising, flat], WindowSizes(4, 2), {"train": 0.5, "val": 0.25, "test": 0.25}
    )
    assert share_outside_range(splits["train"], splits["val"]) == 0.5  # 10 of 20; context left out
    assert share_outside_range(splits["train"], splits["train"]) == 0.0
    # Another series' range does not count: b's values lie within a's train range, and a's not.
    alone = split_series([rising], WindowSizes(4, 2), {"train": 0.5, "val": 0.25, "test": 0.25})
    assert share_outside_range(alone["train"], alone["val"]) == 1.0


def test_auto_sets_aside_members_that_read_the_level_on_a_trending_series(
    tmp_path: Path,
) -> None:
    """A trend ten times the default carries most validation values above the train split's
    range: the MLP members scaled by train statistics or fed the window's level get no weight,
    the ones that read only its shape (and Theta, which no scaling makes read the level) share
    it by their validation errors."""
    run_train(tmp_path, tmp_path / "run", *AUTO_FAST, "data.trend=0.5", "fit.naive_fallback=false")
    spec = model_spec(tmp_path / "run" / "model")
    combination = spec["combination"]
    level = combination["level_members"]
    assert level["validation_outside_train_range"] > level["max_share"] == 0.5
    assert level["set_aside"] is True
    members = combination["members"]
    reads_level = [m["name"].startswith("mlp") and not m["name"].endswith(", per_window")
                   for m in members]  # fmt: skip
    assert sum(reads_level) == 4
    net, _ = saved_network(tmp_path / "run" / "model")
    assert net.level_reading_members() == reads_level
    weights = np.array([m["weight"] for m in members])
    assert (weights[reads_level] == 0).all()
    kept = [not r for r in reads_level]
    inverse = np.array([m["validation_mse"] for m in members])[kept] ** -4.0
    np.testing.assert_allclose(weights[kept], inverse / inverse.sum())
    # The served forecast is the weighted mean of the members kept.
    windows = 100 + np.cumsum(np.ones((2, spec["previous_time_window"])), axis=1)
    with torch.inference_mode():
        each = net.member_forecasts(torch.as_tensor(windows, dtype=torch.float32)).double()
    served, _ = open_model_dir(tmp_path / "run" / "model").forecast(windows)
    np.testing.assert_allclose(served, np.einsum("m,mwh->wh", weights, each.numpy()), rtol=1e-5)


def saved_network(model_dir: Path) -> tuple[torch.nn.Module, dict]:
    """(the network a model folder's spec builds, with its saved weights; the spec)."""
    from safetensors.torch import load_file

    spec = model_spec(model_dir)
    return saved_forecaster(spec, load_file(str(model_artifact(model_dir, "weights")))).eval(), spec


def test_auto_fits_its_ets_candidate_on_the_train_split(auto_run: Path) -> None:
    """The ensemble passes the fit on to its ets candidate: the saved numbers are the train
    split's AutoETS fit, not the last value's parameters it starts from."""
    from stockcast.models.kinds.ets import LAST_VALUE, fit_panel

    prepared = PreparedData.load(auto_run / "prepared")
    expected = fit_panel(prepared.splits["train"].segments(), 20)
    assert expected != LAST_VALUE
    net, _ = saved_network(auto_run / "model")
    ets = net.core.cores[3]
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(ets, name).numpy(), value, rtol=1e-6)


def test_auto_forecasts_the_same_after_reload(auto_run: Path) -> None:
    net, spec = saved_network(auto_run / "model")
    size = (4, spec["previous_time_window"])
    windows = 100 + np.cumsum(np.random.default_rng(1).normal(size=size), axis=1)
    with torch.no_grad():
        direct = net(torch.tensor(windows, dtype=torch.float32)).double().numpy()
    served, bands = open_model_dir(auto_run / "model").forecast(windows)
    np.testing.assert_allclose(served, direct, rtol=1e-6)
    assert set(bands) == {"80", "95"}
    assert not np.allclose(served, windows[:, -1:]), "the fit departs from the last price"


def test_auto_bands_are_measured_over_the_last_season_not_the_whole_window(
    auto_run: Path,
) -> None:
    """The bands' unit is the mean absolute change over the fewest whole seasons holding
    model.interval_scale_values (10) values: one season of 20 here, not the four the model
    reads. Wilder early values leave the bands' widths as they are; wilder recent ones widen
    them."""
    intervals = model_spec(auto_run / "model")["intervals"]
    assert intervals["scale_span"] == 20
    assert intervals["calibration_splits"] == ["val"], "a fitted model's train windows are not"
    model = open_model_dir(auto_run / "model")
    rng = np.random.default_rng(5)
    calm = 100 + np.cumsum(rng.normal(size=(3, 80)), axis=1)
    wild_early, wild_late = calm.copy(), calm.copy()
    wild_early[:, :60] += rng.normal(scale=5.0, size=(3, 60))
    wild_late[:, 60:] += rng.normal(scale=5.0, size=(3, 20))

    def widths(windows: np.ndarray) -> dict[str, np.ndarray]:
        return {
            level: upper - lower for level, (lower, upper) in model.forecast(windows)[1].items()
        }

    for level, width in widths(calm).items():
        np.testing.assert_allclose(widths(wild_early)[level], width, rtol=1e-9)
        assert np.all(widths(wild_late)[level] > 2 * width)


def test_smoothing_parameters_learn_at_their_own_rate() -> None:
    """optim.method_lr_scale: a statistical kind's few squashed parameters get their own,
    larger learning rate; every other weight keeps the optimizer's."""
    from stockcast.training.losses import make_loss
    from stockcast.training.module import Forecaster

    net = anchored_monthly_net("theta")
    module = Forecaster(
        net,
        make_loss("mse", 1.0),
        functools.partial(torch.optim.Adam, lr=1e-3),
        method_lr_scale=30.0,
    )
    weights, smoothing = module.configure_optimizers().param_groups
    core = net.core
    assert len(smoothing["params"]) == 2
    assert all(
        p is q for p, q in zip(smoothing["params"], core.smoothing_parameters(), strict=True)
    )
    assert smoothing["lr"] == pytest.approx(0.03) and weights["lr"] == pytest.approx(1e-3)
    assert any(p is core.gate for p in weights["params"])
    assert len(weights["params"]) + 2 == len(list(net.parameters()))


def test_auto_fits_theta_parameters_away_from_their_start(auto_run: Path) -> None:
    """At the weights' learning rate 60 steps would move alpha and theta by under 0.02."""
    net, _ = saved_network(auto_run / "model")
    theta = next(core for core in net.core.cores if isinstance(core, Theta))
    with torch.no_grad():
        moved = (theta.alpha() - START_ALPHA).abs().max() + (
            theta.trend_share() - START_TREND_SHARE
        ).abs().max()
    assert float(moved) > 0.05


def test_the_refit_fits_only_the_candidates_the_weights_kept(
    auto_run: Path, tmp_path: Path, make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the threshold between the two smallest candidates' weights, the check and the refit
    fit the other three; the registered model serves their renormalised evaluated weights."""
    from stockcast.models.spec import member_names
    from stockcast.training import refit as refit_training

    # The real check (its network of nine members takes the nine kept weights, or refuses),
    # told to let the refit through whatever it measured.
    check = refit_training.held_back_check
    monkeypatch.setattr(
        refit_training, "held_back_check", lambda *args: check(*args) | {"helps": True}
    )

    spec = model_spec(auto_run / "model")
    weights = np.array(spec["combination"]["weights"]).reshape(4, 3)
    sums = weights.sum(axis=1)
    smallest, second = np.sort(sums)[:2]
    assert second > smallest, "two candidates tie: no threshold parts them"
    threshold = float((smallest + second) / 2)
    cfg = make_cfg(
        *AUTO_FAST,
        "fit.naive_fallback=false",
        f"pipeline.refit_min_candidate_weight={threshold}",
        config_name="pipeline",
    )
    metrics = json.loads((auto_run / "metrics.json").read_text())
    record = refit_training.refit_where_it_helps(
        cfg,
        PreparedData.load(auto_run / "prepared"),
        auto_run / "model",
        tmp_path / "refit",
        int(metrics["best_step"]),
        int(metrics["batch_size"]),
        splits=("train", "val"),
    )
    dropped = int(np.argmin(sums))
    name = member_names(spec)[3 * dropped].split(",")[0]
    assert [c["name"] for c in record["left_out"]] == [name]
    assert record["check"]["held_back_windows"] > 0 and record["refit"] is True
    refit = model_spec(tmp_path / "refit")
    kept = [c for i, c in enumerate(spec["network"]["candidates"]) if i != dropped]
    assert refit["network"]["candidates"] == kept
    expected = np.delete(weights, dropped, axis=0).ravel()
    np.testing.assert_allclose(refit["combination"]["weights"], expected / expected.sum())
    assert [m["name"] for m in refit["combination"]["members"]] == member_names(refit)
    net, _ = saved_network(tmp_path / "refit")
    assert net.core.members == 9
    # The evaluated model travels inside whole, all twelve members.
    assert len(model_spec(tmp_path / "refit" / "evaluated")["combination"]["weights"]) == 12
    # Each folder's training config names the candidates that were fitted into it.
    refit_config = OmegaConf.load(tmp_path / "refit" / TRAINING_CONFIG_FILE)
    fitted = [(c["kind"], c["window"]) for c in kept]
    assert [(c.kind, c.window) for c in refit_config.model.candidates] == fitted
    evaluated_config = OmegaConf.load(tmp_path / "refit" / "evaluated" / TRAINING_CONFIG_FILE)
    assert len(evaluated_config.model.candidates) == 4
    assert refit_config.data == evaluated_config.data
    windows = 100 + np.cumsum(np.random.default_rng(3).normal(size=(2, 80)), axis=1)
    served, bands = open_model_dir(tmp_path / "refit").forecast(windows)
    assert np.isfinite(served).all() and set(bands) == {"80", "95"}


def test_auto_on_a_random_walk_still_repeats_the_last_price(tmp_path: Path) -> None:
    run_train(
        tmp_path,
        tmp_path / "run",
        "experiment=auto",
        "data.length=800",
        "trainer.max_steps=60",
        "fit.val_every_steps=30",
        "logger=none",
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["fell_back_to_naive"] is True
    # Repeating the last price fits nothing: every window of the fitted span calibrates its bands.
    intervals = model_spec(tmp_path / "run" / "model")["intervals"]
    prepared = PreparedData.load(tmp_path / "run" / "prepared")
    fitted_span = join_splits(prepared.splits, ("train", "val")).origins(prepared.window)
    assert intervals["calibration_splits"] == ["train", "val"]
    validation = prepared.splits["val"].origins(prepared.window)
    assert intervals["calibration_windows"] == len(fitted_span) > 3 * len(validation)
    size = (3, model_spec(tmp_path / "run" / "model")["previous_time_window"])
    windows = 100 + np.cumsum(np.random.default_rng(2).normal(size=size), axis=1)
    served, _ = open_model_dir(tmp_path / "run" / "model").forecast(windows)
    np.testing.assert_allclose(served, np.repeat(windows[:, -1:], 5, axis=1), rtol=1e-6)


def test_a_served_thetas_map_follows_every_kind_of_load() -> None:
    """The served forecast map is kept between calls: a load that replaces the parameters
    (assign=True: new tensors whose version counters may equal the old ones'), a load in place
    and a network made in inference mode all forecast afresh."""
    x = 100 + torch.randn(1, 3, 48).cumsum(-1)

    def theta() -> Theta:
        return Theta(members=1, window=48, horizon=5, season=12).eval()

    served, reference = theta(), theta()
    first = served(x)
    moved = {k: v.detach().clone() for k, v in served.state_dict().items()}
    moved["raw_alpha"] = moved["raw_alpha"] + 1.0  # a new tensor, version 0 like the old one
    reference.load_state_dict(moved)
    served.load_state_dict(moved, assign=True)
    torch.testing.assert_close(served(x), reference(x))
    assert not torch.allclose(served(x), first)
    served.load_state_dict(theta().state_dict())
    torch.testing.assert_close(served(x), first)
    with torch.inference_mode():
        made = theta()
        made.load_state_dict(reference.state_dict())
        torch.testing.assert_close(made(x), reference(x))


@pytest.mark.parametrize("kind", ["theta", "es"])
def test_a_served_map_follows_a_move_to_another_dtype(kind: str) -> None:
    """A move keeps each parameter object and swaps its data, bumping no version counter: the
    float32 map kept from before `.double()` forecast float64 windows with float32 weights."""
    x = (100 + torch.randn(1, 3, 48).cumsum(-1)).double()

    def core() -> Theta | HoltWinters:
        if kind == "theta":
            return Theta(members=1, window=48, horizon=5, season=12).eval()
        return HoltWinters(1, 48, 5, 12, min_damping=0.8).eval()

    served = core()
    served(x.float())  # the float32 map is kept
    served.double()
    fresh = core()  # never forecast before: its map is built in float64
    fresh.load_state_dict(served.state_dict())
    fresh.double()
    assert served.served_weights().dtype == torch.float64
    torch.testing.assert_close(served(x), fresh(x), rtol=0, atol=0)


def network_of_views(kind: str, network: dict, views: list[str]) -> torch.nn.Module:
    """An anchored network of `kind` reading 20 values, 3 out, one member per scaled view
    (train statistics: loc 110, scale 6)."""
    return build_price_forecaster(
        {
            "kind": kind,
            "previous_time_window": 20,
            "next_time_window": 3,
            "network": network,
            "anchor": "last",
            "quantiles": [],
            "scaler": {
                "kind": views if len(views) > 1 else views[0],
                "members": [{"kind": view, "loc": 110.0, "scale": 6.0} for view in views],
                "min_relative_scale": 1e-4,
            },
        }
    )


@pytest.mark.parametrize(
    "network",
    [
        {"season_length": 4},
        {
            "candidates": [
                {"kind": "theta", "window": None, "network": {"season_length": 4}},
                {
                    "kind": "mlp",
                    "window": 10,
                    "network": {"hidden_sizes": [8], "activation": "relu", "dropout": 0.0},
                },
            ]
        },
    ],
    ids=["theta", "ensemble"],
)
def test_a_level_view_alone_still_gives_the_kind_its_window(network: dict) -> None:
    """With `data.normalization=per_window_level` alone every member takes the two level inputs
    after the window, so no member's inputs are the window: Theta read them as two more prices
    (a 22-value window) and the ensemble's 10-value MLP read 8 prices and the level inputs. Theta
    is level-free, so it forecasts the same from every view."""
    kind = "ensemble" if "candidates" in network else "theta"
    window = np.linspace(100.0, 119.0, 20) + np.tile([1.0, -1.0, 0.5, -0.5], 5)

    def forecast(view: str) -> np.ndarray:
        net = network_of_views(kind, network, [view])
        torch.manual_seed(0)
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.normal_(0, 0.01)
        core = net.core.cores[0] if kind == "ensemble" else net.core
        assert core.window == 20
        if kind == "ensemble":
            _, _, span = net.core.parts[1]
            assert span == slice(10, 22), "the MLP reads the last 10 values and the level inputs"
        return net(torch.tensor(window[None], dtype=torch.float32)).detach().numpy()

    if kind == "theta":
        np.testing.assert_allclose(forecast("per_window_level"), forecast("per_window"), rtol=1e-5)
    else:
        forecast("per_window_level")


@pytest.mark.parametrize("kind", ["theta", "es", "ensemble"])
def test_a_window_forecast_alone_and_among_many_is_the_same(kind: str) -> None:
    """A batch of many windows takes the linear maps' product transposed (faster there) and the
    ensemble's candidates their own part of the scaled views; one served window takes neither:
    both must forecast alike, through every view (window, level inputs, train statistics)."""
    candidates = [
        {"kind": "theta", "window": None, "network": {"season_length": 4}},
        {"kind": "es", "window": None, "network": {"season_length": 4, "min_damping": 0.8}},
        {
            "kind": "mlp",
            "window": 6,
            "network": {"hidden_sizes": [8], "activation": "relu", "dropout": 0.0},
        },
    ]
    network = (
        {"candidates": candidates}
        if kind == "ensemble"
        else {"season_length": 4, **({"min_damping": 0.8} if kind == "es" else {})}
    )
    net = network_of_views(kind, network, ["per_window", "per_window_level", "standard"]).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            # Each method's own forecast in full (an anchored es starts as the last price).
            parameter.add_(torch.randn_like(parameter) * 0.05)
            if name.endswith("gate"):
                parameter.fill_(1.0)
    rng = np.random.default_rng(3)
    windows = torch.tensor(100 + rng.normal(size=(40, 20)).cumsum(-1), dtype=torch.float32)
    with torch.no_grad():
        together = net(windows)
        alone = torch.cat([net(window[None]) for window in windows])
    assert not torch.allclose(together, windows[:, -1:].expand_as(together))
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-4)


def test_a_seasonal_window_too_short_for_the_season_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Theta and exponential smoothing need two seasons in their window; with fewer they
    modelled none without a word, while the spec recorded the data's season."""
    import logging

    from stockcast.training.window_warnings import warn_of_seasonless_windows

    short, long_enough = Theta(1, 10, 5, 12), HoltWinters(1, 30, 5, 12, 0.8)
    assert (short.season, long_enough.season) == (1, 12)
    said = []
    for core, window, data in (
        (long_enough, WindowSizes(30, 5), None),
        (short, WindowSizes(10, 5), None),
        (short, WindowSizes(10, 5), {"previous_time_window": "auto", "split": SPLIT}),
        (short, WindowSizes(24, 5), {"previous_time_window": "auto", "split": SPLIT}),
        (short, WindowSizes(20, 5), {"previous_time_window": "auto", "split": SPLIT}),
    ):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="stockcast.training.window_warnings"):
            warn_of_seasonless_windows(core, 12, window, data)
        said.append(caplog.text)
    assert said[0] == ""
    assert all(
        "the data's season is 12 values, but a seasonal member reads 10, fewer than two seasons"
        in text
        for text in said[1:]
    )
    # A window set too short; auto's choice for a short series (the very setting the advice
    # named, to a user of auto); a candidate's own window inside a longer one.
    assert "give it a window of at least 24 (data.previous_time_window=auto" in said[1]
    needs = series_for_auto_window(24, 5, SPLIT)
    assert (
        f"auto chooses two seasons once every series has at least {needs} values, or set "
        "data.previous_time_window=24"
    ) in said[2]
    assert "give that candidate (model.candidates.<n>.window) at least 24 values" in said[3]
    # A short candidate in a data window short of two seasons itself: the data's is the fix
    # (a candidate's window is capped at it).
    assert "auto chooses two seasons once every series has at least" in said[4]


def test_a_series_too_short_for_two_seasons_is_not_told_to_set_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On 40 monthly values (28 in train) the warning said to set data.previous_time_window=24,
    which the split check then refused: a train split of 28 holds no 24-value window and a
    5-value horizon."""
    import logging

    from stockcast.training.window_warnings import warn_of_seasonless_windows

    short = Theta(1, 10, 5, 12)
    said = []
    for data, train in (
        ({"previous_time_window": "auto", "split": SPLIT}, 28),
        (None, 28),
        ({"previous_time_window": "auto", "split": SPLIT}, 29),
    ):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="stockcast.training.window_warnings"):
            warn_of_seasonless_windows(short, 12, WindowSizes(10, 5), data, train)
        said.append(caplog.text)
    too_short = (
        "a window of 24 needs a train split of 29 values and the shortest series' holds 28, "
        "so only a longer history lets it model the season"
    )
    assert too_short in said[0] and too_short in said[1]
    assert not any("previous_time_window=24" in text or "at least 24" in text for text in said[:2])
    assert "or set data.previous_time_window=24" in said[2]


def test_the_series_length_auto_needs_for_a_window_is_exact() -> None:
    """The length the warning names is the first at which auto's rule allows the window."""
    for season, horizon in ((12, 5), (52, 5), (4, 8), (7, 1)):
        needs = series_for_auto_window(2 * season, horizon, SPLIT)
        for length, allowed in ((needs - 1, False), (needs, True)):
            train = split_lengths(length, SPLIT)["train"]
            assert (auto_window(season, 2, horizon, train) >= 2 * season) is allowed


def test_a_candidate_window_longer_than_the_datas_is_said(
    make_cfg, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A candidate asking for more values than the data's window holds reads the whole window,
    as the whole-window MLP of experiment=auto already does: said, not silently."""
    import logging

    from stockcast.training.window_warnings import warn_of_cut_candidate_windows

    cfg = make_cfg("experiment=auto", "model.candidates.0.window=500")
    with caplog.at_level(logging.WARNING, logger="stockcast.training.window_warnings"):
        warn_of_cut_candidate_windows(cfg.model, 500)
        assert caplog.text == ""
        warn_of_cut_candidate_windows(cfg.model, 16)
    assert (
        "model.candidates.0.window is 500, more than the 16 values the data's window holds, so "
        "it reads all 16; set data.previous_time_window, or a smaller window"
    ) in caplog.text
    assert "candidates.1" not in caplog.text, "a candidate reading the whole window asks none"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stockcast.training.window_warnings"):
        run_train(
            tmp_path,
            tmp_path / "run",
            "experiment=auto",
            "model.candidates.0.window=500",
            "trainer.max_steps=2",
            "logger=none",
            "fit.folds=0",
        )
    assert "model.candidates.0.window is 500, more than the" in caplog.text, "the fit says it"
