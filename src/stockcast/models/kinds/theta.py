"""The Theta kind: the Theta method of Assimakopoulos and Nikolopoulos (simple exponential
smoothing plus a share of the slope of the linear trend, on seasonally adjusted values), run over
each window with its smoothing parameter and its theta learned by gradient descent (one pair per
member), as in the optimised Theta method.

Every step is linear in the window: the season's indices are the mean departures from the
window's least-squares line at each position of the season (centred), the adjusted values are the
window less them, the drift is 1 - 1/theta of the adjusted values' least-squares slope (half for
the classic theta = 2, where it starts), and the smoothed level is a weighted sum of them. So for
fixed parameters the forecast is one (window, horizon) matrix, built afresh each training step
and once for serving. It is translation- and scale-equivariant, so every scaled view of the
window gives the same forecast in prices up to its learned parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from stockcast.models.gated_method import GatedMethod
from stockcast.models.kind import ModelKind, seasonal_core_sizes
from stockcast.models.linear_map import apply_map
from stockcast.models.served_weights import while_unchanged
from stockcast.models.settings import MethodSettings

# Where alpha starts, and its floor (the level's weights (1 - alpha)^k stay representable).
START_ALPHA = 0.3
MIN_ALPHA = 0.01
# The share of the least-squares slope the forecast carries, 1 - 1/theta: it starts at the
# classic method's theta = 2 and is learned in [0, 1] (the optimised Theta method's theta >= 1;
# 0 is simple exponential smoothing).
START_TREND_SHARE = 0.5


class ThetaSettings(MethodSettings):
    kind: Literal["theta"]


def fixed_maps(window: int, horizon: int, season: int) -> tuple[torch.Tensor, ...]:
    """What does not depend on alpha: (adjust, slope, season_out), with adjusted = adjust @ x
    (window, window), the adjusted values' least-squares slope = slope @ adjusted (window,) and the
    season's indices added to the forecast = season_out @ x (horizon, window)."""
    n = window
    t = torch.arange(n, dtype=torch.float64)
    centred = t - t.mean()
    slope = centred / (centred @ centred)
    identity = torch.eye(n, dtype=torch.float64)
    if season <= 1:
        return identity, slope, torch.zeros(horizon, n, dtype=torch.float64)
    # Departures from the window's least-squares line: (I - P) x.
    design = torch.stack([torch.ones(n, dtype=torch.float64), centred], dim=1)
    residual = identity - design @ torch.linalg.pinv(design)
    # Position in the season counted back from the window's end, so the next value's is known.
    position = (t.long() - n) % season
    picks = torch.nn.functional.one_hot(position, season).double()  # (window, season)
    means = (picks / picks.sum(0)).T  # (season, window): the mean at each position
    indices = (means - means.mean(0)) @ residual  # centred season indices = indices @ x
    adjust = identity - picks @ indices
    future = (torch.arange(horizon) % season).long()
    return adjust, slope, indices[future]


class Theta(GatedMethod):
    """Scaled windows (members, batch, inputs) -> each member's change from the last value over
    the horizon (members, batch, horizon), computed from the first `window` inputs."""

    # Equivariant and blind to the level inputs: no scaled view makes it read the absolute level.
    level_free = True

    def __init__(self, members: int, window: int, horizon: int, season: int) -> None:
        super().__init__()
        # Season indices need two whole seasons in the window.
        self.season = season if season > 1 and 2 * season <= window else 1
        self.window = window
        self.horizon = horizon
        share = (START_ALPHA - MIN_ALPHA) / (1 - MIN_ALPHA)
        self.raw_alpha = nn.Parameter(
            torch.full((members,), float(torch.logit(torch.tensor(share))))
        )
        self.raw_trend_share = nn.Parameter(
            torch.full((members,), float(torch.logit(torch.tensor(START_TREND_SHARE))))
        )
        # Each output's weight on the method's forecast: 1 at the start (`start_anchored`), 0
        # repeats the last value (where the naive fallback sets it).
        self.gate = nn.Parameter(torch.ones(members, 1, horizon))
        adjust, slope, season_out = fixed_maps(window, horizon, self.season)
        self.register_buffer("adjust", adjust.float(), persistent=False)
        self.register_buffer("adjusted_slope", (slope @ adjust).float(), persistent=False)
        self.register_buffer("season_out", season_out.float(), persistent=False)

    def start_anchored(self) -> None:
        """An anchored Theta starts from the method's own forecast (gate 1), which its alpha is
        then fitted for; started at the last price, the gate's slow climb left it near naive.
        Set here too, not only when built: a warm start from a model that fell back to the
        last price (gate 0) starts it anew."""
        with torch.no_grad():
            self.gate.fill_(1.0)

    def alpha(self) -> torch.Tensor:
        return MIN_ALPHA + (1 - MIN_ALPHA) * torch.sigmoid(self.raw_alpha)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features[..., : self.window]
        weights = self.served_weights() if not self.training else self.forecast_weights()
        return self.gate * (apply_map(x, weights) - x[..., -1:])

    def smoothing_parameters(self) -> list[nn.Parameter]:
        return [self.raw_alpha, self.raw_trend_share]

    def trend_share(self) -> torch.Tensor:
        return torch.sigmoid(self.raw_trend_share)

    def served_weights(self) -> torch.Tensor:
        return while_unchanged(
            self,
            "forecast_map",
            lambda: [(self, "raw_alpha"), (self, "raw_trend_share")],
            self.forecast_weights,
        )

    def forecast_weights(self) -> torch.Tensor:
        """The (members, window, horizon) map from a window to its forecast: level + the trend
        share of the slope times (h - 1 + 1/alpha - (1 - alpha)^n / alpha) + the season's
        index."""
        a = self.alpha()[:, None]  # (members, 1)
        n = self.window
        ages = torch.arange(n - 1, -1, -1, device=a.device, dtype=a.dtype)  # n-1 .. 0
        level = a * (1 - a) ** ages  # weight of each adjusted value in the smoothed level
        level = torch.cat([level[:, :1] / a, level[:, 1:]], dim=1)  # the first starts it
        steps = torch.arange(self.horizon, device=a.device, dtype=a.dtype)
        share = self.trend_share()[:, None]
        drift = share * (steps + 1 / a - (1 - a) ** n / a)  # (members, horizon)
        # (members, window, horizon): adjust.T @ (level + drift * slope), plus the season's
        # index. The adjustment is fixed, so it is applied to the level's weights and to the
        # slope (`adjusted_slope`, once), not to their (window, horizon) sum each step: on
        # taylor's 384 values that product took 1.9 ms of a 14 ms training step.
        through_level = level @ self.adjust
        return (
            through_level[:, :, None]
            + drift[:, None, :] * self.adjusted_slope[None, :, None]
            + self.season_out.T[None]
        )


def build_theta(
    network: Mapping[str, Any], window: int, member_inputs: Sequence[int], outputs: int
) -> Theta:
    return Theta(
        **seasonal_core_sizes(network, window, member_inputs, outputs),
    )


KIND = ModelKind(
    name="theta",
    settings=ThetaSettings,
    build_core=build_theta,
    network_keys=(),
    data_keys=("season_length",),
)
