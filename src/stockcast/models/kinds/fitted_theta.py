"""The fitted_theta kind: the Theta method with its form and parameters fitted on each train
series as statsforecast's AutoTheta fits them (its seasonality test, a classical decomposition,
the variant among STM, OTM, DSTM and DOTM and its alpha and theta by in-sample MSE), not
learned by gradient descent, then run over each window.

Fitted on the whole split, the season's indices average every year of it, where the theta kind
reads them off the few seasons of one window. A window carries neither its calendar phase nor
its level (the core sees it scaled), so the fitted indices keep their shape only: each window's
phase is the rotation of that shape its values fit best, and its amplitude is read off the
window by least squares beside a line (an amplitude that follows the level is what makes the
decomposition multiplicative). Given the phase the forecast is linear in the window: the plain
Theta map plus the amplitude times that phase's season (less what the plain map makes of it),
all built from the fitted numbers saved with the weights as buffers; serving needs neither
statsforecast nor the series.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from stockcast.models.gated_method import GatedMethod
from stockcast.models.kind import ModelKind, seasonal_core_sizes
from stockcast.models.served_weights import while_unchanged
from stockcast.models.settings import MethodSettings

log = logging.getLogger(__name__)

# The variants AutoTheta chooses among; the dynamic ones update their line with every value.
VARIANTS = ("STM", "OTM", "DSTM", "DOTM")
# Where no form can be fitted: a level that follows the last value, no slope, no season.
LAST_VALUE = {"alpha": 1.0, "theta": 1.0, "dynamic": 0.0, "seasonal": 0.0}
FITTED = tuple(LAST_VALUE)


class FittedThetaSettings(MethodSettings):
    kind: Literal["fitted_theta"]


def fit_series(values: np.ndarray, season: int) -> tuple[dict[str, float], np.ndarray]:
    """AutoTheta's fit of one series: its numbers (alpha, theta, dynamic, seasonal) and the shape
    of its season's indices over the `season` steps after the series' end (centred, unit root
    mean square; zeros without a season); the last value's numbers where none can be fitted."""
    from statsforecast.models import AutoTheta  # training only: a served model never fits

    values = np.asarray(values, dtype=np.float64)
    shape = np.zeros(max(season, 1))
    try:
        fitted = AutoTheta(season_length=max(season, 1)).fit(values).model_
    except (ValueError, ArithmeticError, NotImplementedError, np.linalg.LinAlgError) as err:
        log.debug("AutoTheta on %d values: %s", len(values), err)
        return dict(LAST_VALUE), shape
    numbers = {
        "alpha": float(fitted["par"]["alpha"]),
        "theta": float(fitted["par"]["theta"]),
        "dynamic": float(fitted["modeltype"].startswith("D")),
        "seasonal": float(bool(fitted.get("decompose", False))),
    }
    if numbers["seasonal"]:
        indices = np.asarray(fitted["seas_forecast"]["mean"], dtype=np.float64)[:season]
        centred = indices - indices.mean()
        spread = np.sqrt(np.mean(centred**2))
        if spread > 0:
            shape = centred / spread
        else:
            numbers["seasonal"] = 0.0
    return numbers, shape


def fit_panel(series: Sequence[np.ndarray], season: int) -> tuple[dict[str, float], np.ndarray]:
    """One series' fit; for a panel, each number's median over the series' fits, a dynamic
    line or a season where at least half of them have one, and the seasonal fits' median shape
    (each aligned on the step after its series' end)."""
    fits = [fit_series(values, season) for values in series]
    panel = {name: float(np.median([numbers[name] for numbers, _ in fits])) for name in FITTED}
    for name in ("dynamic", "seasonal"):
        panel[name] = float(np.mean([numbers[name] for numbers, _ in fits]) >= 0.5)
    shapes = [shape for numbers, shape in fits if numbers["seasonal"]]
    shape = np.median(shapes, axis=0) if shapes and panel["seasonal"] else np.zeros(len(fits[0][1]))
    return panel, shape


def theta_map(window: int, horizon: int, alpha: float, theta: float, dynamic: bool) -> torch.Tensor:
    """(window, horizon): AutoTheta's forecast of a window taken as a whole series (its
    recursion, run on every unit window at once: it is linear in the values), its level
    started at the first value and the window measured from its last value, so that shifting
    the window shifts its forecast alike."""
    n = window
    eye = torch.eye(n, dtype=torch.float64)
    share = 1 - 1 / theta
    level, mean = eye[0].clone(), eye[0].clone()
    if dynamic:
        intercept, slope = eye[0].clone(), torch.zeros(n, dtype=torch.float64)
    else:
        t = torch.arange(1, n + 1, dtype=torch.float64)
        slope = 6 * (2 * t / n - (1 + n) / n) / (n * n - 1)
        intercept = 1 / n - (n + 1) * slope / 2
    forecast = []
    for i in range(1, n + horizon):
        mu = level + share * (
            intercept * (1 - alpha) ** i + slope * (1 - (1 - alpha) ** (i + 1)) / alpha
        )
        value = eye[i] if i < n else mu
        if i >= n:
            forecast.append(mu)
        level = alpha * value + (1 - alpha) * level
        before, mean = mean, (i * mean + value) / (i + 1)
        if dynamic:
            slope = ((i - 1) * slope + 6 * (value - before) / (i + 1)) / (i + 2)
            intercept = mean - slope * (i + 2) / 2
    weights = torch.stack(forecast, dim=1)
    # Measured from the last value: the intercept's decaying term is not shift-equivariant.
    weights[-1] += 1 - weights.sum(0)
    return weights


def phase_lifts(
    window: int, horizon: int, base: torch.Tensor, shape: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each rotation of the season's `shape`: the projection that scores how well it fits a
    window beside a line (window, phases), and what one unit of that score adds to the plain
    map's forecast (phases, horizon): the season's amplitude read off the window, taken out,
    forecast without it and put back. A phase's forecast map is `base` plus the outer product
    of its score over its size and its lift; kept apart, a window's forecast needs only its own
    phase's lift, not every phase's map."""
    m = len(shape)
    t = torch.arange(window, dtype=torch.float64)
    line = torch.stack([torch.ones(window, dtype=torch.float64), t - t.mean()], dim=1)
    off_line = torch.eye(window, dtype=torch.float64) - line @ torch.linalg.pinv(line)
    scores, lifts = [], []
    for phase in range(m):
        past = shape[(t.long() - window + phase) % m]
        future = shape[(torch.arange(horizon) + phase) % m]
        across = off_line @ past
        size = across @ across
        if size <= 0:
            scores.append(torch.zeros(window, dtype=torch.float64))
            lifts.append(torch.zeros(horizon, dtype=torch.float64))
            continue
        scores.append(across / size.sqrt())
        # The amplitude, window @ across / size, is the window's score over sqrt(size).
        lifts.append((future - past @ base) / size.sqrt())
    return torch.stack(scores, dim=1), torch.stack(lifts)


class FittedTheta(GatedMethod):
    """Scaled windows (members, batch, inputs) -> each member's change from the last value over
    the horizon (members, batch, horizon), computed from the first `window` inputs."""

    level_free = True
    # Nothing is learned: the numbers are fitted on the series (`fit_to_series`).
    learns = False

    def __init__(self, members: int, window: int, horizon: int, season: int) -> None:
        super().__init__()
        # A season's phase and amplitude need two whole seasons in the window.
        self.season = season if season > 1 and 2 * season <= window else 1
        self.window = window
        self.horizon = horizon
        for name, value in LAST_VALUE.items():
            self.register_buffer(name, torch.full((members,), value))
        self.register_buffer("shape", torch.zeros(members, self.season))
        # Each output's weight on the method's forecast: 0 after the naive fallback.
        self.register_buffer("gate", torch.ones(members, 1, horizon))

    def start_anchored(self) -> None:
        with torch.no_grad():
            self.gate.fill_(1.0)

    def fit_to_series(self, series: Sequence[np.ndarray]) -> None:
        """Fit AutoTheta on the series the network trains on (their train split, or the history
        a refit or a fold fits on)."""
        numbers, shape = fit_panel(series, self.season) if series else (dict(LAST_VALUE), None)
        if self.season <= 1:
            numbers["seasonal"] = 0.0
        log.info(
            "fitted_theta fitted on %d series: %s",
            len(series),
            ", ".join(f"{name} {value:.3g}" for name, value in numbers.items()),
        )
        with torch.no_grad():
            for name, value in numbers.items():
                getattr(self, name).fill_(value)
            self.shape.zero_()
            if shape is not None and numbers["seasonal"]:
                self.shape.copy_(torch.as_tensor(shape, dtype=self.shape.dtype))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features[..., : self.window]
        scores, base, lifts = self.served_weights()
        window = x.double()
        fit = window @ scores  # (members, batch, phases)
        phase = fit.abs().argmax(dim=-1, keepdim=True)
        member = torch.arange(lifts.shape[0], device=lifts.device)[:, None]
        lift = lifts[member, phase[..., 0]]  # (members, batch, horizon)
        forecast = window @ base + fit.gather(-1, phase) * lift
        return self.gate * (forecast.to(x.dtype) - x[..., -1:])

    def served_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return while_unchanged(
            self,
            "forecast_map",
            lambda: [(self, name) for name in (*FITTED, "shape")],
            self.forecast_weights,
        )

    def forecast_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each member's phase scores (members, window, phases), plain Theta map (members,
        window, horizon) and phase lifts (members, phases, horizon); without a season, scores
        and lifts of zeros."""
        scores, bases, lifts = [], [], []
        phases = self.season
        for member in range(self.members):
            base = theta_map(
                self.window,
                self.horizon,
                float(self.alpha[member]),
                float(self.theta[member]),
                bool(self.dynamic[member] > 0.5),
            )
            if self.seasonal[member] > 0.5 and phases > 1:
                score, lift = phase_lifts(
                    self.window, self.horizon, base, self.shape[member].double()
                )
            else:
                score = torch.zeros(self.window, phases, dtype=torch.float64)
                lift = torch.zeros(phases, self.horizon, dtype=torch.float64)
            scores.append(score)
            bases.append(base)
            lifts.append(lift)
        device = self.gate.device
        return (
            torch.stack(scores).to(device),
            torch.stack(bases).to(device),
            torch.stack(lifts).to(device),
        )


def build_fitted_theta(
    network: Mapping[str, Any], window: int, member_inputs: Sequence[int], outputs: int
) -> FittedTheta:
    return FittedTheta(
        **seasonal_core_sizes(network, window, member_inputs, outputs),
    )


KIND = ModelKind(
    name="fitted_theta",
    settings=FittedThetaSettings,
    build_core=build_fitted_theta,
    network_keys=(),
    data_keys=("season_length",),
)
