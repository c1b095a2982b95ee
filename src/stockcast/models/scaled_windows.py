"""The members' scaled views of a batch of windows, made part by part as each core reads them.

Every member reads the window in its own scaled space (and some its level inputs after it), but
an ensemble's candidate reads only its own members and recent values: a 10-value MLP beside a
384-value one, and Theta and smoothing never read the level inputs. Made whole, every member's
view of every value was shifted, scaled and joined to the level inputs, three full copies, for
each training step (experiment=auto on taylor: 12 members by 386 values, about 4.7 of a 16 ms
profiled step); made for each candidate's rows and columns, the 10-value MLP's cost nothing and
only one candidate's views are joined to the level inputs.
"""

from __future__ import annotations

import torch

# Below this many windows (one served forecast) every member's whole view is made once and each
# part is a view of it: a product per candidate cost more than it saved there (0.45 ms against
# 0.37 ms for one window of experiment=auto on taylor).
PARTS_FROM_WINDOWS = 16


class ScaledWindows:
    """Windows of `prices` (batch, window) as members `rows` see values `columns` of them: the
    window's values less each member's loc over its scale, or a log-value member's own view
    (`log_inputs`, in place of the prices), then the level inputs (members, batch, 2) where
    `columns` run past the window."""

    def __init__(
        self,
        prices: torch.Tensor,
        loc: torch.Tensor,
        scale: torch.Tensor,
        level_inputs: torch.Tensor | None,
        log_members: torch.Tensor | None = None,
        log_inputs: torch.Tensor | None = None,
    ) -> None:
        self.prices = prices
        self.loc = loc
        self.scale = scale
        self.level_inputs = level_inputs
        self.log_members = log_members
        self.log_inputs = log_inputs
        self.window = prices.shape[-1]
        self.width = self.window + (0 if level_inputs is None else level_inputs.shape[-1])
        self._whole: torch.Tensor | None = None

    def part(self, rows: slice, columns: slice) -> torch.Tensor:
        """(members in `rows`, batch, columns): what those members read."""
        if self.prices.shape[0] < PARTS_FROM_WINDOWS:
            if self._whole is None:
                self._whole = self._made(slice(None), slice(None))
            return self._whole[rows, :, columns]
        return self._made(rows, columns)

    def _made(self, rows: slice, columns: slice) -> torch.Tensor:
        start, stop, _ = columns.indices(self.width)
        in_window = min(stop, self.window)
        values = (self.prices[None, :, start:in_window] - self.loc[rows]) / self.scale[rows]
        if self.log_members is not None and self.log_inputs is not None:
            logs = self.log_inputs[None, :, start:in_window]
            values = torch.where(self.log_members[rows], logs, values)
        if stop <= self.window or self.level_inputs is None:
            return values
        return torch.cat([values, self.level_inputs[rows, :, : stop - self.window]], dim=-1)

    def whole(self) -> torch.Tensor:
        """(members, batch, window + level inputs): every member's view of every value."""
        return self.part(slice(None), slice(None))

    def last(self) -> torch.Tensor:
        """(members, batch, 1): each member's view of the last value."""
        return self.part(slice(None), slice(self.window - 1, self.window))
