"""The in-memory form of one or more univariate series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The id of a table's one series where the table has no id column: a name no refusal repeats.
UNNAMED = "series"


@dataclass(frozen=True)
class Series:
    """One contiguous, regularly sampled series; dates are optional (synthetic series have none)."""

    series_id: str
    values: np.ndarray
    dates: np.ndarray | None = None
    # The zones its dates were written in (`date_zone.series_zones`): none for naive dates.
    zones: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.values.ndim != 1:
            raise ValueError("a Series holds a 1-D array of values")
        if self.dates is not None and len(self.dates) != len(self.values):
            raise ValueError("dates and values of a Series must have the same length")

    def __len__(self) -> int:
        return len(self.values)
