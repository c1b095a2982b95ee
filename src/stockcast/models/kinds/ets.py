"""The ets kind: exponential smoothing whose form and parameters are fitted by likelihood on each
train series (statsforecast's AutoETS, restricted to additive trend and season), not learned by
gradient descent, and then run over each window like the es kind.

AutoETS picks the form (error, none / additive / damped trend, none / additive season) by AICc
over the whole train split, as a user fitting ETS would; fitting on the series rather than on
windows of it gives the parameters the likelihood prefers, where gradient steps on windowed
losses (the es kind) stop wherever the fit's budget leaves them. The fitted numbers (alpha,
beta, gamma, phi and whether there is a season) are buffers of the core, saved with the weights;
serving needs neither statsforecast nor the series, only the window: the method's state is read
off a least-squares fit to the window's whole seasons and updated over the values after its
first span, one matrix product per member.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from stockcast.models.kind import ModelKind, seasonal_core_sizes
from stockcast.models.kinds.es import HoltWintersMap
from stockcast.models.served_weights import while_unchanged
from stockcast.models.settings import MethodSettings

log = logging.getLogger(__name__)

# The parameters that repeat the last value: a level that follows it entirely, no trend (phi 0
# drops the trend from the forecast), no season. Where no form can be fitted.
LAST_VALUE = {"alpha": 1.0, "beta": 0.0, "gamma": 0.0, "phi": 0.0, "seasonal": 0.0}
FITTED = tuple(LAST_VALUE)
# The forms the map can run: any error, no / additive / damped trend, no or an additive season.
_METHOD = re.compile(r"ETS\((?P<error>[AM]),(?P<trend>N|A|Ad),(?P<season>N|A)\)")


# The trend forms AutoETS may choose among: (its model letter, its `damped` argument).
TRENDS = {"none": ("N", None), "additive": ("A", False), "damped": ("A", True)}
# What configs/model/ets.yaml chooses; the functions' default where no config is at hand.
DEFAULT_TRENDS = ("none", "damped")
# What the method smooths: the prices themselves, or their logarithms (a season or trend that
# grows with the level is additive in logs; prices at or below zero have none).
PRICES, LOGS = "prices", "log"
VALUES = (PRICES, LOGS)


class EtsSettings(MethodSettings):
    kind: Literal["ets"]
    # The trend forms the fit chooses among by AICc (no season and an additive one are both
    # tried wherever the series holds enough seasons).
    trends: Annotated[
        list[Literal[tuple(TRENDS)]],  # type: ignore[valid-type]
        Field(min_length=1, description=f"a list of trend forms from {list(TRENDS)}"),
    ]
    # A candidate list written before the choice (an ensemble's, a sweep's) smooths prices.
    values: Literal[VALUES] = PRICES  # type: ignore[valid-type]


def fit_series(
    values: np.ndarray, season: int, trends: Sequence[str] = DEFAULT_TRENDS
) -> dict[str, float]:
    """The additive-season ETS the likelihood prefers for one series: AutoETS with each of
    `trends`, without a season and with an additive one where the series holds enough seasons,
    whichever has the lowest AICc; the last value's parameters where none can be fitted (too
    short a series)."""
    from statsforecast.models import AutoETS  # training only: a served model never fits

    values = np.asarray(values, dtype=np.float64)
    seasons = [("N", 1)] + ([("A", season)] if season > 1 else [])
    fits = []
    for trend in trends:
        letter, damped = TRENDS[trend]
        for season_letter, length in seasons:
            form = f"Z{letter}{season_letter}"
            try:
                model = AutoETS(season_length=length, model=form, damped=damped)
                fitted = model.fit(values).model_
            except (
                ValueError,
                ArithmeticError,
                NotImplementedError,
                np.linalg.LinAlgError,
            ) as err:
                log.debug("AutoETS %s on %d values: %s", form, len(values), err)
                continue
            # A constant series comes back as a model with no ETS form: nothing to use.
            method, aicc = fitted.get("method"), fitted.get("aicc", np.nan)
            if isinstance(method, str) and _METHOD.fullmatch(method) and np.isfinite(aicc):
                fits.append(fitted)
    if not fits:
        return dict(LAST_VALUE)
    best = min(fits, key=lambda fitted: fitted["aicc"])
    return _parameters(best["method"], np.asarray(best["par"], dtype=np.float64))


def _parameters(method: str, par: np.ndarray) -> dict[str, float]:
    """AutoETS's own numbers (alpha, beta and gamma: the one-step error's weights on level, trend
    and season; phi: the damping), with no trend as beta = phi = 0 and no season as gamma = 0."""
    form = _METHOD.fullmatch(method)
    assert form is not None
    trend, seasonal = form["trend"] != "N", form["season"] != "N"
    return {
        "alpha": float(np.clip(par[0], 0.0, 1.0)),
        "beta": float(max(par[1], 0.0)) if trend else 0.0,
        "gamma": float(max(par[2], 0.0)) if seasonal else 0.0,
        "phi": (float(par[3]) if form["trend"] == "Ad" else 1.0) if trend else 0.0,
        "seasonal": float(seasonal),
    }


def fit_panel(
    series: Sequence[np.ndarray], season: int, trends: Sequence[str] = DEFAULT_TRENDS
) -> dict[str, float]:
    """One series' fit; for a panel (one map serves every series), each number's median over
    the series' fits, and a season where at least half of them have one (a median of an even
    count of yes and no would be half a season)."""
    fits = [fit_series(values, season, trends) for values in series]
    panel = {name: float(np.median([fit[name] for fit in fits])) for name in FITTED}
    panel["seasonal"] = float(np.mean([fit["seasonal"] for fit in fits]) >= 0.5)
    return panel


class FittedHoltWinters(HoltWintersMap):
    """The map with the parameters `fit_to_series` found, held fixed while the rest trains."""

    # Nothing here is learned: the map is the fitted one during training too, kept from one
    # validation to the next (it has no parameters: `KeepsValues`).
    learns = False

    def __init__(
        self,
        members: int,
        window: int,
        horizon: int,
        season: int,
        trends: Sequence[str] = DEFAULT_TRENDS,
        values: str = PRICES,
    ) -> None:
        super().__init__(window, horizon, season)
        self.trends = tuple(trends)
        # The network hands these members their windows' logarithms (`log_value_members`).
        if values not in VALUES:
            raise ValueError(f"values is {values!r}; choose one of {VALUES}")
        self.log_values = values == LOGS
        for name, value in LAST_VALUE.items():
            self.register_buffer(name, torch.full((members,), value))
        # Each output's weight on the method's forecast: 1 (the fitted method), 0 after the naive
        # fallback.
        self.register_buffer("gate", torch.ones(members, 1, horizon))
        without = self._start_matrix(seasonal=False)
        self.register_buffer("start_without_season", without, persistent=False)

    def start_anchored(self) -> None:
        with torch.no_grad():
            self.gate.fill_(1.0)

    def fit_to_series(self, series: Sequence[np.ndarray]) -> None:
        """Fit the form and parameters on the series the network trains on (their train split,
        or the history a refit or a fold fits on); of logarithms, on the logarithms of the
        series above zero (none: the last value's parameters, and the network leaves every
        window its last price)."""
        if self.log_values:
            given = len(series)
            series = [np.log(values) for values in series if bool((values > 0).all())]
            if len(series) < given:
                # Said, not only logged at INFO: with none left the member repeats the last
                # price, and `values: log` does nothing the user asked for.
                left_out = given - len(series)
                log.warning(
                    "ets with values: log fits only series above zero: %d of the %d %s zero or "
                    "below, %s; set values: prices for data that reaches zero",
                    left_out,
                    given,
                    "reaches" if left_out == 1 else "reach",
                    "so it repeats the last price" if not series else "left out of its fit",
                )
        fitted = fit_panel(series, self.season, self.trends) if series else dict(LAST_VALUE)
        log.info(
            "ets fitted on %d series%s: %s",
            len(series),
            " of logarithms" if self.log_values else "",
            ", ".join(f"{name} {value:.3g}" for name, value in fitted.items()),
        )
        with torch.no_grad():
            for name, value in fitted.items():
                getattr(self, name).fill_(value)

    def parameters_in_range(self) -> dict[str, torch.Tensor]:
        """The map's gamma is the season's share of what the level leaves, AutoETS's its
        error's weight: gamma / (1 - alpha) (0 where the level takes the whole error). No
        season: its indices start at zero (`start_state`) and no error moves them."""
        leaves = 1 - self.alpha
        share = torch.where(leaves > 0, self.gamma / leaves.clamp_min(1e-12), 0.0)
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": share * self.seasonal,
            "phi": self.phi,
        }

    def _start_matrix(self, seasonal: bool = True) -> torch.Tensor:
        """The state after the window's first span read off a least-squares fit of a line plus
        season indices (summing to zero) to the window's last whole seasons (a line to all of it
        without a season), not off its first spans as es reads it: where the fitted smoothing is
        slow (a small alpha, beta or gamma) the start is most of what the forecast carries, and
        read from every season of the window it carries far less noise than read from one."""
        n, span = self.window, self.start_span
        m = self.season if seasonal else 1
        length = n // m * m
        time = torch.arange(n - length, n, dtype=torch.float64)
        columns = [torch.ones(length, dtype=torch.float64), time - time.mean()]
        position = time.long() % m
        columns += [(position == k).double() - (position == 0).double() for k in range(1, m)]
        solve = torch.linalg.pinv(torch.stack(columns, dim=1))  # coefficients = solve @ values
        coefficients = torch.zeros(len(columns), n, dtype=torch.float64)
        coefficients[:, n - length :] = solve
        start = torch.zeros(2 + (self.season if self.season > 1 else 0), n, dtype=torch.float64)
        start[0] = coefficients[0] + (span - 1 - time.mean()) * coefficients[1]
        start[1] = coefficients[1]
        if m > 1:
            indices = torch.cat([-coefficients[2:].sum(0, keepdim=True), coefficients[2:]])
            # The state's season indices start with the next value's (the one after the span).
            start[2:] = indices[(span + torch.arange(m)) % m]
        return start.float()

    def start_state(self) -> torch.Tensor:
        """Each member's start: with season indices where its fit has a season, else a line."""
        if self.season <= 1:
            return self.start
        seasonal = self.seasonal[:, None, None]
        return seasonal * self.start + (1 - seasonal) * self.start_without_season

    def served_weights(self) -> torch.Tensor:
        return while_unchanged(
            self, "forecast_map", lambda: [(self, name) for name in FITTED], self.forecast_weights
        )


def build_fitted_holt_winters(
    network: Mapping[str, Any], window: int, member_inputs: Sequence[int], outputs: int
) -> FittedHoltWinters:
    return FittedHoltWinters(
        **seasonal_core_sizes(network, window, member_inputs, outputs),
        trends=network["trends"],
        # A spec saved before the choice smoothed prices.
        values=network.get("values", PRICES),
    )


@dataclass(frozen=True)
class EtsKind(ModelKind):
    """Its reports name the members that smooth logarithms; a config or a spec from before
    `values` smooths prices."""

    def model_names(self, network: Mapping[str, Any], window: int) -> list[str]:
        of = " (log values)" if network.get("values") == LOGS else ""
        return [f"{self.name}{of} on {window} values"]

    def network_spec(
        self, model_cfg: Mapping[str, Any], data_meta: Mapping[str, Any]
    ) -> dict[str, Any]:
        return super().network_spec({"values": PRICES, **model_cfg}, data_meta)

    def architecture_differences(
        self, ours: Mapping[str, Any], theirs: Mapping[str, Any], prefix: str = "model."
    ) -> list[str]:
        # A spec saved before the choice smoothed prices: its champion warm-starts today's.
        return super().architecture_differences(ours, {"values": PRICES, **theirs}, prefix)


KIND = EtsKind(
    name="ets",
    settings=EtsSettings,
    build_core=build_fitted_holt_winters,
    network_keys=("trends", "values"),
    # Which trends the fit may choose shapes the fit, not the weights; what it smooths changes
    # what the weights mean.
    architecture_keys=("season_length", "values"),
    data_keys=("season_length",),
)
