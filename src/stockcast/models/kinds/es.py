"""The exponential-smoothing kind: Holt-Winters with a damped trend and an additive season, run
over each window with smoothing parameters learned by gradient descent (one set per member).

For fixed parameters the method is linear in the window: the state after the last value is
F^n s_0 + sum_j F^(n-1-j) g x_j, with s_0 read off the first seasons of the window. The powers of
the transition F are built by doubling (a handful of batched matrix products, not a loop over the
window), so a training step costs about what the MLP's does and the forecast is one matrix
product per member. It is translation- and scale-equivariant, so every scaled view of the window
gives the same forecast in prices up to its learned parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn

from stockcast.fields import Number
from stockcast.models.gated_method import GatedMethod
from stockcast.models.kind import ModelKind, seasonal_core_sizes
from stockcast.models.linear_map import apply_map
from stockcast.models.served_weights import while_unchanged
from stockcast.models.settings import MethodSettings

# Where the smoothing parameters start (the usual textbook values): level, trend (a fraction of
# the level's), season (a fraction of what the level leaves), damping.
START = {"alpha": 0.5, "beta": 0.1, "gamma": 0.1, "phi": 0.95}


class EsSettings(MethodSettings):
    kind: Literal["es"]
    # Damping of the trend: phi in [min_damping, 1] (1: a straight trend).
    min_damping: Annotated[Number, Field(gt=0, le=1, description="in (0, 1]")]


def _logit(p: float) -> float:
    return float(torch.logit(torch.tensor(p)))


def matrix_powers(matrix: torch.Tensor, count: int) -> torch.Tensor:
    """[I, F, F^2, ..., F^(count-1)] for F of shape (members, s, s): (members, count, s, s), by
    doubling the list of powers known so far."""
    members, size, _ = matrix.shape
    powers = torch.eye(size, dtype=matrix.dtype, device=matrix.device).expand(
        members, 1, size, size
    )
    step = matrix[:, None]
    while powers.shape[1] < count:
        powers = torch.cat([powers, step @ powers], dim=1)
        step = step @ step
    return powers[:, :count]


class HoltWintersMap(GatedMethod):
    """Scaled windows (members, batch, inputs) -> each member's change from the last value over
    the horizon (members, batch, horizon), computed from the first `window` inputs by the
    method's linear map for the parameters `parameters_in_range()` gives (a subclass holds them:
    learned here, fitted by likelihood in the ets kind) times each output's `gate`."""

    # Equivariant and blind to the level inputs: no scaled view makes it read the absolute level.
    level_free = True
    # Whether the parameters change while training (the map is then built afresh each step).
    learns = True

    def __init__(self, window: int, horizon: int, season: int) -> None:
        super().__init__()
        # A season needs two whole seasons in the window to start from.
        self.season = season if season > 1 and 2 * season <= window else 1
        self.window = window
        self.horizon = horizon
        # What does not depend on the parameters is built once: where each coefficient of the
        # transition and gain sits, the starting state, and the readout's level and season.
        patterns, gains, rotation = _state_patterns(self.season)
        self.register_buffer("patterns", patterns, persistent=False)
        self.register_buffer("gains", gains, persistent=False)
        self.register_buffer("rotation", rotation, persistent=False)
        self.register_buffer("start", self._start_matrix(), persistent=False)
        base, trend = _readout_patterns(self.season, horizon)
        self.register_buffer("readout_base", base, persistent=False)
        self.register_buffer("readout_trend", trend, persistent=False)

    @property
    def start_span(self) -> int:
        """Values the starting state is read from: one season, else a quarter of the window."""
        return self.season if self.season > 1 else max(1, self.window // 4)

    def parameters_in_range(self) -> dict[str, torch.Tensor]:
        """Per member: alpha (the level's), beta (the trend's, on the one-step error), gamma (the
        season's, a share of what the level leaves: the error's weight is gamma (1 - alpha)) and
        phi (the trend's damping)."""
        raise NotImplementedError

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features[..., : self.window]
        learning = self.training and self.learns
        weights = self.forecast_weights() if learning else self.served_weights()
        return self.gate * (apply_map(x, weights) - x[..., -1:])

    def served_weights(self) -> torch.Tensor:
        raise NotImplementedError

    def forecast_weights(self) -> torch.Tensor:
        """The (members, window, horizon) map from a window to its forecast."""
        p = self.parameters_in_range()
        a, b, c, phi = p["alpha"], p["beta"], p["gamma"], p["phi"]
        # The coefficients in `_state_patterns`' order (see there).
        coefficients = torch.stack(
            [1 - a, (1 - a) * phi, -b, phi * (1 - b), -a, -b, -c * (1 - a),
             -c * (1 - a) * phi, 1 - c + c * a],
            dim=1,
        )  # fmt: skip
        transition = self.rotation + torch.einsum("mk,kij->mij", coefficients, self.patterns)
        gain = torch.stack([a, b, c * (1 - a)], dim=1) @ self.gains  # (members, size)
        n, first = self.window, self.start_span
        updates = n - first
        powers = matrix_powers(transition, updates + 1)  # F^0 .. F^updates
        # The state after the first span is read off it (A x); each later value updates it:
        # F^updates A x + sum_j F^(n-1-j) g x_j over those values.
        from_start = powers[:, updates] @ self.start_state()  # (members, size, window)
        from_values = (powers[:, :updates].flip(1) @ gain[:, None, :, None])[..., 0]
        state = from_start + torch.nn.functional.pad(from_values.transpose(1, 2), (first, 0))
        damped = torch.cumsum(
            phi[:, None] ** torch.arange(1, self.horizon + 1, device=phi.device), dim=1
        )
        readout = self.readout_base + damped[:, :, None] * self.readout_trend
        return (readout @ state).transpose(1, 2)

    def start_state(self) -> torch.Tensor:
        """The map from a window to the state after its first span: (size, window), or one per
        member (members, size, window)."""
        return self.start

    def _start_matrix(self) -> torch.Tensor:
        """s_0 = A x, the state at the end of the first span: the trend from the first two spans'
        means, the level the first span's mean carried to its end, the season as the first
        season's departures from the level and trend line through it (next value's first)."""
        n, m, span = self.window, self.season, self.start_span
        size = 2 + (m if m > 1 else 0)
        start = torch.zeros(size, n)
        trend = torch.zeros(n)
        if 2 * span <= n:
            trend[span : 2 * span] = 1.0 / (span * span)
            trend[:span] = -1.0 / (span * span)
        start[1] = trend
        start[0, :span] = 1.0 / span
        start[0] += (span - 1) / 2 * trend
        if m > 1:
            offsets = torch.arange(m, dtype=start.dtype) - (m - 1) / 2
            start[2:, :m] = torch.eye(m) - 1.0 / m
            start[2:] -= offsets[:, None] * trend[None, :]
        return start


class HoltWinters(HoltWintersMap):
    """The map with its smoothing parameters learned by gradient descent, one set per member."""

    def __init__(
        self, members: int, window: int, horizon: int, season: int, min_damping: float
    ) -> None:
        super().__init__(window, horizon, season)
        self.min_damping = min_damping
        self.raw = nn.ParameterDict(
            {
                name: nn.Parameter(torch.full((members,), _logit(share)))
                for name, share in (
                    ("alpha", START["alpha"]),
                    ("beta", START["beta"]),
                    ("gamma", START["gamma"]),
                    ("phi", _damping_share(START["phi"], min_damping)),
                )
            }
        )
        # Each output's weight on the method's forecast: 0 repeats the last value (an anchored
        # model starts there, and the naive fallback returns there).
        self.gate = nn.Parameter(torch.ones(members, 1, horizon))

    def parameters_in_range(self) -> dict[str, torch.Tensor]:
        """alpha in (0, 1); beta a share of alpha; gamma a share of 1 - alpha; phi damped."""
        alpha = torch.sigmoid(self.raw["alpha"])
        return {
            "alpha": alpha,
            "beta": alpha * torch.sigmoid(self.raw["beta"]),
            "gamma": (1 - alpha) * torch.sigmoid(self.raw["gamma"]),
            "phi": self.min_damping + (1 - self.min_damping) * torch.sigmoid(self.raw["phi"]),
        }

    def served_weights(self) -> torch.Tensor:
        return while_unchanged(
            self,
            "forecast_map",
            lambda: [(self.raw, name) for name in self.raw],
            self.forecast_weights,
        )


def _state_patterns(season: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where the transition's coefficients and the gain's sit in the state [level, trend,
    season indices (the next value's first)], and the season's rotation.

    Per value x: level' = a (x - s1) + (1 - a)(l + phi b); with b the trend parameter (alpha
    times the classic beta, so in [0, alpha]) trend' = b (x - s1 - l) + phi (1 - b) trend; the
    new index c (x - level') + (1 - c) s1 joins the end while the others move up one."""
    size = 2 + (season if season > 1 else 0)
    last = size - 1
    spots = [(0, 0), (0, 1), (1, 0), (1, 1)]
    if season > 1:
        spots += [(0, 2), (1, 2), (last, 0), (last, 1), (last, 2)]
    patterns = torch.zeros(9, size, size)
    for k, (i, j) in enumerate(spots):
        patterns[k, i, j] = 1.0
    gains = torch.zeros(3, size)
    gains[0, 0], gains[1, 1] = 1.0, 1.0
    if season > 1:
        gains[2, last] = 1.0
    rotation = torch.zeros(size, size)
    for k in range(2, last):
        rotation[k, k + 1] = 1.0
    return patterns, gains, rotation


def _readout_patterns(season: int, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Step h's forecast is level + (phi + ... + phi^h) trend + its season index: the constant
    part (level and season) and the trend's place."""
    size = 2 + (season if season > 1 else 0)
    base = torch.zeros(horizon, size)
    base[:, 0] = 1.0
    if season > 1:
        for h in range(horizon):
            base[h, 2 + h % season] = 1.0
    trend = torch.zeros(size)
    trend[1] = 1.0
    return base, trend


def _damping_share(phi: float, min_damping: float) -> float:
    return (phi - min_damping) / (1 - min_damping) if min_damping < 1 else 0.5


def build_holt_winters(
    network: Mapping[str, Any], window: int, member_inputs: Sequence[int], outputs: int
) -> HoltWinters:
    return HoltWinters(
        **seasonal_core_sizes(network, window, member_inputs, outputs),
        min_damping=float(network["min_damping"]),
    )


KIND = ModelKind(
    name="es",
    settings=EsSettings,
    build_core=build_holt_winters,
    network_keys=("min_damping",),
    # The damping's floor maps the saved raw weight to phi: the same weights, another model.
    architecture_keys=("season_length", "min_damping"),
    data_keys=("season_length",),
)
