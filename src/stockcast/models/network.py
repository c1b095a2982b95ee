"""The price-in, price-out network every model kind serves through: window scaling, ensemble
members, the anchor on the last price, member weights. The kind's core maps scaled windows to
scaled forecasts; this wraps it. Pure PyTorch: no Lightning here."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stockcast.models.cores import level_free_members, log_value_members, start_anchored
from stockcast.models.level_range import LevelRange, outside_range, recombine_changed
from stockcast.models.log_view import log_view, price_changes
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
        self.point_index = self.quantiles.index(0.5) if self.quantiles else 0
        # The outputs from the lowest quantile up, and where each output's rank lands back.
        rising = sorted(range(len(self.quantiles)), key=self.quantiles.__getitem__)
        self.quantile_ranks = (rising, sorted(range(len(rising)), key=rising.__getitem__))
        # (quantiles, 1): True for the outputs below the median; a buffer, so it follows the
        # network to a GPU.
        self.register_buffer(
            "below_median",
            torch.tensor([q < 0.5 for q in self.quantiles])[:, None] if self.quantiles else None,
            persistent=False,
        )
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
        """Combine the members with these weights (normalised to sum to 1); None: their mean."""
        if weights is None:
            self.member_weights = None
            return
        values = torch.as_tensor(
            [float(w) for w in weights], dtype=torch.float32, device=self.scalers[0].loc.device
        )
        if len(values) != self.core.members or not bool(
            torch.isfinite(values).all() and (values >= 0).all() and values.sum() > 0
        ):
            raise ValueError(
                f"member weights {list(weights)} must be {self.core.members} finite values >= 0 "
                "with a positive sum"
            )
        self.member_weights = (values / values.sum())[:, None, None, None]

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
        the point). A fit that `diverged` (its forecasts were not numbers), or whose weights
        are no longer finite, loses every weight: a zeroed output layer times a hidden layer
        that overflowed is still not a number.
        """
        if not self.anchored:
            raise ValueError("only an anchored model (anchor='last') has a naive fallback")
        if diverged or not all(bool(torch.isfinite(p).all()) for p in self.core.parameters()):
            with torch.no_grad():
                for param in self.core.parameters():
                    param.zero_()
        point = slice(self.point_index * self.horizon, (self.point_index + 1) * self.horizon)
        for index in range(len(self.quantiles)):
            if index != self.point_index:
                block = slice(index * self.horizon, (index + 1) * self.horizon)
                self.core.subtract_outputs(block, point)
        self.core.zero_outputs(point)

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
        return base + self._combine(values, prices if level_rule else None)

    def _member_values(
        self, prices: torch.Tensor, outputs: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | float]:
        """Each member's outputs in price units (members, batch, quantiles, horizon) and the base
        they are added to: an anchored member's change from the last price, with the last price
        as base (added after combining, so a zero change is the last price to the bit whatever
        the scaling: two naive fallbacks then agree exactly), or else its forecast, base 0."""
        in_prices = outputs * scale[..., None]
        if len(self.quantiles) > 1:
            in_prices = self._rising_quantiles(in_prices)
        if self.anchored:
            if self.log_members is not None:
                in_logs = self.log_members[..., None]
                in_prices = torch.where(in_logs, price_changes(in_prices, prices), in_prices)
            return in_prices, prices[:, None, -1:]
        return in_prices + loc[..., None], 0.0

    def _rising_quantiles(self, values: torch.Tensor) -> torch.Tensor:
        """Each member's quantile outputs (members, batch, quantiles, horizon) made to rise with
        their quantiles around its median: separately trained outputs can cross, so each one
        below the median is held at or under it and each above at or over it, then they are
        sorted. The median, the point forecast, is never moved: validation, the weights, the
        naive fallback and serving all read the point the median output trained for, and the
        members' combination (each member in order) is in order too. The training loss reads
        the raw outputs."""
        median = values[:, :, self.point_index, None]
        held = torch.where(
            self.below_median, torch.minimum(values, median), torch.maximum(values, median)
        )
        rising, back = self.quantile_ranks
        return held[:, :, rising].sort(dim=2).values[:, :, back]

    def _combine(self, member_values: torch.Tensor, prices: torch.Tensor | None) -> torch.Tensor:
        """(members, batch, ...) -> (batch, ...): the members' mean, or their weighted mean (a
        member of weight 0 counts for nothing, even a forecast that is not a number); for a
        window of `prices` outside the fitted range, without the members that read the level
        (the other windows are combined as without the rule, to the bit, whatever their batch).
        `prices` None: no window is judged."""
        if self.member_weights is None:
            combined = member_values.mean(dim=0)
        else:
            weights = self.member_weights
            combined = torch.where(weights > 0, member_values * weights, 0.0).sum(dim=0)
        set_aside = None if prices is None else self.level_set_aside(prices)
        if set_aside is None:
            return combined
        return recombine_changed(member_values, combined, self.flat_weights(), set_aside)

    def flat_weights(self) -> torch.Tensor:
        """The members' weights, (members,): the fitted ones, or equal ones for their mean."""
        if self.member_weights is not None:
            return self.member_weights.flatten()
        members = len(self.scalers)
        return torch.full((members,), 1.0 / members, device=self.scalers[0].loc.device)

    def member_forecasts(self, prices: torch.Tensor) -> torch.Tensor:
        """Each member's point forecast in price units, (members, batch, horizon): what the
        combination weights are fitted on."""
        outputs, _, loc, scale = self.member_outputs(prices)
        values, base = self._member_values(prices, outputs, loc, scale)
        return (base + values)[:, :, self.point_index, :]

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
