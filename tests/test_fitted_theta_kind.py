"""The fitted_theta kind: AutoTheta's fit on the train series, run over each window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stockcast.data.prepared import PreparedData
from stockcast.models.kinds.fitted_theta import LAST_VALUE, FittedTheta, fit_panel, theta_map
from stockcast.serving.model import open_model_dir
from tests.conftest import trained_once
from tests.test_season_kinds import forecast_of, saved_network

LONE = (
    "model=fitted_theta",
    "data=seasonal",
    "data.length=160",
    "data.previous_time_window=auto",
    "fit.naive_fallback=false",
    "logger=none",
)


def theta_by_formula(x: np.ndarray, alpha: float, theta: float, horizon: int) -> np.ndarray:
    """The static Theta forecast of a window taken as a whole series (Fiorucci et al. 2016):
    the smoothed level (started at the first value), then each step
    mu = level + (1 - 1/theta) (A (1-alpha)^i + B (1 - (1-alpha)^(i+1)) / alpha), with A and B
    the window's least-squares line, the level smoothing mu in turn."""
    n = len(x)
    t = np.arange(1, n + 1)
    slope, intercept = np.polyfit(t, x, 1)
    level = x[0]
    for value in x[1:]:
        level = alpha * value + (1 - alpha) * level
    forecast = []
    for i in range(n, n + horizon):
        q = 1 - alpha
        mu = level + (1 - 1 / theta) * (intercept * q**i + slope * (1 - q ** (i + 1)) / alpha)
        forecast.append(mu)
        level = alpha * mu + q * level
    return np.array(forecast)


def test_the_static_map_is_thetas_formula_measured_from_the_last_value() -> None:
    x = np.cumsum(np.random.default_rng(3).normal(size=30)) + 40
    forecast = x @ theta_map(30, 6, 0.3, 2.5, dynamic=False).numpy()
    expected = theta_by_formula(x - x[-1], 0.3, 2.5, 6) + x[-1]
    np.testing.assert_allclose(forecast, expected, rtol=1e-10)


def test_a_window_of_fixed_indices_on_a_level_is_forecast_as_that_season() -> None:
    """Fixed season indices on a known level, at any phase: the level is read, the season's
    amplitude and phase off the window, and the forecast carries both on."""
    season, window = 4, 16
    shape = np.array([1.0, -1.0, 2.0, -2.0]) / np.sqrt(2.5)
    core = FittedTheta(1, window, 6, season).double()
    with torch.no_grad():
        core.alpha.fill_(0.4)
        core.theta.fill_(2.0)
        core.seasonal.fill_(1.0)
        core.shape.copy_(torch.tensor(shape)[None])
    core.eval()
    for phase in range(season):
        t = np.arange(window + 6)
        values = 50 + 3 * shape[(t - window + phase) % season]
        np.testing.assert_allclose(forecast_of(core, values[:window]), values[window:], atol=1e-9)


def test_the_last_values_numbers_repeat_the_last_value() -> None:
    core = FittedTheta(1, 12, 3, 1).double().eval()
    assert {name: float(getattr(core, name)[0]) for name in LAST_VALUE} == LAST_VALUE
    x = np.random.default_rng(0).normal(size=12) + 10
    np.testing.assert_allclose(forecast_of(core, x), [x[-1]] * 3)


@pytest.fixture(scope="module")
def lone_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_once(tmp_path_factory, "fitted_theta", *LONE)


def test_a_lone_fitted_theta_is_fitted_not_trained_and_beats_the_last_price(
    lone_run: Path,
) -> None:
    metrics = json.loads((lone_run / "metrics.json").read_text())
    assert metrics["optimizer_steps"] == 0
    assert metrics["test"]["mase"] < 0.8 * metrics["test"]["naive_mase"]


def test_a_lone_fitted_theta_saves_the_numbers_its_train_split_gives(lone_run: Path) -> None:
    prepared = PreparedData.load(lone_run / "prepared")
    numbers, shape = fit_panel(prepared.splits["train"].segments(), 20)
    net, spec = saved_network(lone_run / "model")
    assert spec["kind"] == "fitted_theta"
    assert numbers["seasonal"] == 1.0
    for name, value in numbers.items():
        np.testing.assert_allclose(getattr(net.core, name).numpy(), value, rtol=1e-6)
    np.testing.assert_allclose(net.core.shape.numpy()[0], shape, rtol=1e-5, atol=1e-6)


def test_a_lone_fitted_theta_forecasts_the_same_after_reload(lone_run: Path) -> None:
    net, spec = saved_network(lone_run / "model")
    prepared = PreparedData.load(lone_run / "prepared")
    series = prepared.splits["train"].segments()[0]
    window = spec["previous_time_window"]
    windows = np.stack([series[-window - shift : len(series) - shift] for shift in (0, 5)])
    with torch.no_grad():
        direct = net(torch.tensor(windows, dtype=torch.float32)).double().numpy()
    served, bands = open_model_dir(lone_run / "model").forecast(windows)
    np.testing.assert_allclose(served, direct, rtol=1e-6)
    assert set(bands) == {"80", "95"}


def forecast_by_every_phase_map(core: FittedTheta, x: torch.Tensor) -> torch.Tensor:
    """The core's forecast as one (window, horizon) map per phase, every phase's forecast of
    every window, then each window's best-fitting phase picked: the form the core reduces."""
    n, horizon, season = core.window, core.horizon, core.season
    t = torch.arange(n, dtype=torch.float64)
    line = torch.stack([torch.ones(n, dtype=torch.float64), t - t.mean()], dim=1)
    off_line = torch.eye(n, dtype=torch.float64) - line @ torch.linalg.pinv(line)
    scores, maps = [], []
    for member in range(core.members):
        base = theta_map(
            n,
            horizon,
            float(core.alpha[member]),
            float(core.theta[member]),
            bool(core.dynamic[member] > 0.5),
        )
        member_scores = torch.zeros(n, season, dtype=torch.float64)
        member_maps = [base] * season
        shape = core.shape[member].double()
        for phase in range(season if core.seasonal[member] > 0.5 else 0):
            past = shape[(t.long() - n + phase) % season]
            future = shape[(torch.arange(horizon) + phase) % season]
            across = off_line @ past
            size = across @ across
            if size > 0:
                member_scores[:, phase] = across / size.sqrt()
                member_maps[phase] = base + torch.outer(across / size, future - past @ base)
        scores.append(member_scores)
        maps.append(torch.stack(member_maps))
    window = x[..., :n].double()
    phase = (window @ torch.stack(scores)).abs().argmax(dim=-1)
    every = torch.einsum("mbw,mpwh->mbph", window, torch.stack(maps))
    picked = every.gather(2, phase[..., None, None].expand(-1, -1, 1, horizon))[:, :, 0]
    return core.gate * (picked - window[..., -1:])


@pytest.mark.parametrize("season", [4, 12])
def test_each_window_is_forecast_as_every_phase_map_would_forecast_it(season: int) -> None:
    """Four members: static and dynamic seasonal lines, one without a season and one whose
    season fits no phase; each window's own phase alone gives every phase map's pick."""
    rng = np.random.default_rng(season)
    window, members = 2 * season + 3, 4
    core = FittedTheta(members, window, 5, season).double().eval()
    shape = rng.normal(size=(members, season))
    shape -= shape.mean(axis=1, keepdims=True)
    shape /= np.sqrt(np.mean(shape**2, axis=1, keepdims=True))
    shape[3] = 0.0
    with torch.no_grad():
        core.alpha.copy_(torch.tensor([0.3, 0.6, 0.2, 0.5]))
        core.theta.copy_(torch.tensor([2.0, 1.5, 3.0, 2.0]))
        core.dynamic.copy_(torch.tensor([0.0, 1.0, 0.0, 1.0]))
        core.seasonal.copy_(torch.tensor([1.0, 1.0, 0.0, 1.0]))
        core.shape.copy_(torch.tensor(shape))
    t = np.arange(window + 1)
    phases = rng.integers(season, size=(members, 64, 1))
    seasons = shape[np.arange(members)[:, None, None], (t + phases) % season]
    walks = np.cumsum(rng.normal(size=(members, 64, window + 1)), axis=-1)
    x = torch.tensor(100 + walks + rng.uniform(1, 5, size=(members, 64, 1)) * seasons)
    with torch.no_grad():
        forecast, expected = core(x), forecast_by_every_phase_map(core, x)
    torch.testing.assert_close(forecast, expected, rtol=1e-6, atol=1e-6)
    chosen = (x[..., :window] @ core.served_weights()[0]).abs().argmax(dim=-1)
    assert all(len(chosen[member].unique()) > 1 for member in (0, 1))
