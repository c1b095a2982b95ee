"""The price-in, price-out network every model kind serves through: window scaling, ensemble
members and the inputs each reads, the anchor on the last price, member weights, the level
rule. The kind's core maps scaled windows to scaled forecasts; this wraps it. How the members'
outputs become one forecast in price units is `member_prices`. Pure PyTorch: no Lightning
here."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stockcast.models.cores import level_free_members, log_value_members, start_anchored
from stockcast.models.level_range import LevelRange, outside_range
from stockcast.models.log_view import log_view
from stockcast.models.member_prices import (
    RisingQuantiles,
    combine_members,
    member_values,
    normalised_weights,
    quantile_order,
)
from stockcast.models.scaled_windows import ScaledWindows
from stockcast.models.scaling import LEVEL_KIND, PER_WINDOW_KIND, WINDOW_KINDS, WindowScaler
from stockcast.models.served_weights import KeepsValues, while_unchanged


class PriceForecaster(KeepsValues):
    """Raw prices in (batch, input_size), raw prices out (batch, horizon): scaling is inside.

    One member per normalization (`data.normalization`, a kind or a list of kinds), each its
    own core (the model kind's network, members held side by side) working in its own scaled
    space; the forecast is the members' mean in price units,
    or their weighted mean once `set_member_weights` has fitted weights on validation windows.
    The members see different things (the window's shape only; its absolute level; its shape
    with its level and spread as two more inputs, which a shape alone cannot tell: a season's
    phase, a mean-reverting series' distance from its mean), so their errors differ and their
    mean beats each of them on most series.

    With `anchor="last"` each member forecasts the change from the last input price (a residual on
    the naive forecast) and the output layer starts at zero, so an untrained or unhelpful model
    repeats the last price: it departs from that only where training rewards it. A core whose
    kind is a forecasting method of its own (exponential smoothing, Theta) starts from that
    method's forecast instead (`start_anchored`).

    With a `level_range` (the lowest and highest value the network was fitted on, and the
    share of a window's values that may lie outside them), the members that read the absolute
    level get no weight for a window with more of its values outside that range: what they
    learned holds at the levels they were trained on, and a series that has shifted or trended
    away since is forecast by the members that read the window's shape alone
    (`level_set_aside`). Every forecast after the fit goes through it: validation, bands, test
    and serving (while a fit chooses its checkpoint, `in_prices(..., level_rule=False)`).
    """

    def __init__(
        self,
        core: nn.Module,
        scalers: Sequence[WindowScaler],
        input_size: int,
        horizon: int,
        anchor: str,
        quantiles: Sequence[float] = (),
        member_weights: Sequence[float] | None = None,
        level_range: LevelRange | None = None,
    ) -> None:
        super().__init__()
        if core.members != len(scalers):
            raise ValueError(f"{core.members} core members for {len(scalers)} scalers")
        self.core = core
        # An ensemble's core makes each candidate's part of the scaled views itself
        # (`ScaledWindows`); read once, not on every forecast.
        self.core_reads_parts = bool(getattr(core, "reads_parts", False))
        self.scalers = nn.ModuleList(scalers)
        self.input_size = input_size
        self.anchored = anchor == "last"
        # Quantile training: the core forecasts every quantile of every step; the median is the
        # point forecast. Without quantiles there is one output per step.
        self.quantiles = tuple(float(q) for q in quantiles)
        self.point_index, self.quantile_ranks, below_median = quantile_order(self.quantiles)
        # (quantiles, 1): True for the outputs below the median; a buffer, so it follows the
        # network to a GPU.
        self.register_buffer("below_median", below_median, persistent=False)
        self.horizon = int(horizon)
        level = [scaler.kind == LEVEL_KIND for scaler in scalers]
        # (members, 1, 1): 1 for the members that read the level inputs, None when none does; a
        # buffer so it follows the network to a GPU, not saved (the spec says which members).
        self.register_buffer(
            "level_members",
            torch.tensor(level, dtype=torch.float32)[:, None, None] if any(level) else None,
            persistent=False,
        )
        # (members, 1, 1): True for the members that scale each window by its own statistics
        # (their losses take `window_scale_power`), None when none does.
        window = [scaler.kind in WINDOW_KINDS for scaler in scalers]
        self.register_buffer(
            "window_members",
            torch.tensor(window)[:, None, None] if any(window) else None,
            persistent=False,
        )
        # (members, 1, 1): True for the members that work on the window's logarithms
        # (`log_view`), None when none does; they forecast changes from the last price.
        logs = log_value_members(core)
        if any(logs) and not self.anchored:
            raise ValueError("a core of log-value members needs anchor='last'")
        self.register_buffer(
            "log_members",
            torch.tensor(logs)[:, None, None] if any(logs) else None,
            persistent=False,
        )
        # The scaler whose per-window statistics those members share (they are all the same).
        self.window_scaler = window.index(True) if any(window) else None
        # (members, 1, 1, 1) summing to 1, or None for the plain mean; not saved with the
        # weights: the spec's `combination` holds them, so a checkpoint reload keeps them.
        self.register_buffer("member_weights", None, persistent=False)
        self.set_member_weights(member_weights)
        # (members,): True for the members that step aside for a window outside the fitted
        # range, None where no rule applies (no range, or no mix of members that read the level
        # and members that do not: someone must carry the forecast).
        reading = self.level_reading_members()
        mixed = any(reading) and not all(reading)
        self.level_range = level_range if mixed else None
        self.register_buffer(
            "level_readers",
            torch.tensor(reading) if self.level_range is not None else None,
            persistent=False,
        )
        if self.anchored:
            start_anchored(self.core)

    @property
    def learns(self) -> bool:
        """Whether the network has weights to train (a lone fitted kind, ets, has none: its fit
        is `fit_to_series` at the start of the fit)."""
        return any(param.requires_grad for param in self.parameters())

    def set_member_weights(self, weights: Sequence[float] | None) -> None:
        """Combine the members with these weights (`normalised_weights`); None: their mean."""
        if weights is None:
            self.member_weights = None
            return
        device = self.scalers[0].loc.device
        self.member_weights = normalised_weights(weights, self.core.members, device)

    def level_reading_members(self) -> list[bool]:
        """Which members' forecasts depend on the window's absolute level: those scaled by fixed
        train statistics or fed the level inputs, unless their kind is level-free. What they
        learned holds at the levels they were trained on."""
        free = level_free_members(self.core)
        return [
            scaler.kind != PER_WINDOW_KIND and not level_free
            for scaler, level_free in zip(self.scalers, free, strict=True)
        ]

    def level_set_aside(self, prices: torch.Tensor) -> torch.Tensor | None:
        """(members, batch): True where a member that reads the level steps aside for a window,
        more than `level_range.max_outside` of whose values lie outside the fitted range; None
        where no rule applies or no window is outside."""
        if self.level_range is None or self.level_readers is None:
            return None
        outside = outside_range(prices, self.level_range)
        return None if outside is None else self.level_readers[:, None] & outside[None]

    def fall_back_to_naive(self, diverged: bool = False) -> None:
        """Zero the point forecast's outputs: an anchored model then repeats the last price
        exactly. A quantile model keeps its learned spread around it: each other quantile's
        outputs lose the median's first, so the spread is measured from the last price (on a
        trend its learned 10% change lay above 0, and sorting the quantiles then served it as
        the point); its served bands are calibrated as any fallback's are (`interval_spec`).
        A fit that `diverged` (its forecasts were not numbers), or whose weights are no longer
        finite, loses every weight: a zeroed output layer times a hidden layer that overflowed
        is still not a number.
        """
        if not self.anchored:
            raise ValueError("only an anchored model (anchor='last') has a naive fallback")
        if diverged or not self.weights_finite():
            with torch.no_grad():
                for param in self.core.parameters():
                    param.zero_()
        point = slice(self.point_index * self.horizon, (self.point_index + 1) * self.horizon)
        for index in range(len(self.quantiles)):
            if index != self.point_index:
                block = slice(index * self.horizon, (index + 1) * self.horizon)
                self.core.subtract_outputs(block, point)
        self.core.zero_outputs(point)

    def weights_finite(self) -> bool:
        """Whether every learned weight is a number: a fit or refit whose weights overflowed
        forecasts nothing, whatever its output layer."""
        return all(bool(torch.isfinite(param).all()) for param in self.core.parameters())

    def forward(self, prices: torch.Tensor) -> torch.Tensor:
        """Point forecasts in price units, (batch, horizon)."""
        return self.quantile_forecast(prices)[:, self.point_index, :]

    def quantile_forecast(self, prices: torch.Tensor) -> torch.Tensor:
        """Every output in price units, (batch, quantiles or 1, horizon): the members' (weighted)
        mean."""
        return self.in_prices(prices, *self.member_outputs(prices))

    def in_prices(
        self,
        prices: torch.Tensor,
        outputs: torch.Tensor,
        last_inputs: torch.Tensor,
        loc: torch.Tensor,
        scale: torch.Tensor,
        level_rule: bool = True,
    ) -> torch.Tensor:
        """`member_outputs`' values as forecasts in price units, (batch, quantiles or 1,
        horizon): the members combined, with the level rule unless `level_rule` is False."""
        values, base = self._member_values(prices, outputs, loc, scale)
        set_aside = self.level_set_aside(prices) if level_rule else None
        return base + combine_members(values, self.member_weights, set_aside)

    def member_forecasts(self, prices: torch.Tensor) -> torch.Tensor:
        """Each member's point forecast in price units, (members, batch, horizon): what the
        combination weights are fitted on."""
        return self.member_quantile_forecasts(prices)[:, :, self.point_index, :]

    def member_quantile_forecasts(self, prices: torch.Tensor) -> torch.Tensor:
        """Each member's every output in price units, (members, batch, quantiles or 1,
        horizon): what a fold's quantile bands are combined from."""
        outputs, _, loc, scale = self.member_outputs(prices)
        values, base = self._member_values(prices, outputs, loc, scale)
        return base + values

    def _member_values(
        self, prices: torch.Tensor, outputs: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | float]:
        """`member_values` with this network's anchor, log members and quantile order."""
        order = None
        if len(self.quantiles) > 1:
            order = RisingQuantiles(self.point_index, self.below_median, self.quantile_ranks)
        return member_values(prices, outputs, loc, scale, self.anchored, self.log_members, order)

    def member_outputs(
        self, prices: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each member's raw outputs (members, batch, quantiles or 1, horizon), its scaled last
        input (members, batch, 1) and statistics (members, batch, 1)."""
        loc, scale = self._statistics(prices)
        level_inputs = None
        if self.level_members is not None:
            # The window's level and spread against the train statistics, for the level members
            # only (the others are fed zeros there, where their weights are zero).
            fitted_loc, fitted_scale = self._fitted_statistics()
            level = (loc - fitted_loc) / fitted_scale
            spread = torch.log(scale / fitted_scale)
            level_inputs = self.level_members * torch.cat([level, spread], -1)
        price_loc, price_scale, log_inputs = loc, scale, None
        if self.log_members is not None:
            log_inputs, log_loc, log_scale = log_view(prices, self.scalers[0].min_relative_scale)
            loc = torch.where(self.log_members, log_loc[None], loc)
            scale = torch.where(self.log_members, log_scale[None], scale)
        windows = ScaledWindows(
            prices, price_loc, price_scale, level_inputs, self.log_members, log_inputs
        )
        outputs = self.core(windows if self.core_reads_parts else windows.whole())
        shape = (len(self.scalers), len(prices), max(1, len(self.quantiles)), -1)
        return outputs.reshape(shape), windows.last(), loc, scale

    def _statistics(self, prices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's loc and scale for each window, (members, batch, 1): the window's own
        statistics, computed once and shared by the members that scale by them, or the member's
        fitted constants."""
        fitted_loc, fitted_scale = self._fitted_statistics()
        if self.window_scaler is None:
            shape = (len(fitted_loc), len(prices), 1)
            return fitted_loc.expand(shape), fitted_scale.expand(shape)
        loc, scale = self.scalers[self.window_scaler].statistics(prices)
        return (
            torch.where(self.window_members, loc[None], fitted_loc),
            torch.where(self.window_members, scale[None], fitted_scale),
        )

    def _fitted_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every member's fitted loc and scale, (members, 1, 1) each, stacked once and kept
        while the scalers' buffers are unchanged: stacking them, and even gathering them from
        the scalers, on every call was a tenth of a served forecast."""
        return while_unchanged(
            self,
            "fitted_statistics",
            lambda: [(scaler, name) for scaler in self.scalers for name in ("loc", "scale")],
            lambda: (
                torch.stack([scaler.loc for scaler in self.scalers])[:, None, None],
                torch.stack([scaler.scale for scaler in self.scalers])[:, None, None],
            ),
        )
