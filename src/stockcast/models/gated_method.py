"""The core of a statistical method (Theta, exponential smoothing): each output of its forecast
weighed by a `gate`, which the naive fallback closes so that it repeats the last value."""

from __future__ import annotations

import torch

from stockcast.models.served_weights import KeepsValues


class GatedMethod(KeepsValues):
    """What every method's core answers the network alike; the subclass makes `gate`, (members,
    1, horizon): a parameter where it learns, a buffer where its numbers are fitted."""

    gate: torch.Tensor

    @property
    def members(self) -> int:
        return int(self.gate.shape[0])

    def zero_outputs(self, columns: slice) -> None:
        with torch.no_grad():
            self.gate[:, :, columns] = 0.0
