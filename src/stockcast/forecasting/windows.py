"""Window sizes as one value, and rolling forecast origins over a series."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockcast.errors import ArtifactError

# The two sizes by the names a model's metadata, spec and a prepared meta.json record them.
WINDOW_KEYS = ("previous_time_window", "next_time_window")


@dataclass(frozen=True)
class WindowSizes:
    """How many past values a model reads and how many future values it forecasts: the pair
    every part of stockcast passes around, under the names users write in configs."""

    previous_time_window: int
    next_time_window: int

    @classmethod
    def of(cls, source: Mapping[str, Any]) -> WindowSizes:
        """The sizes a mapping records (model metadata, a spec, a prepared meta.json)."""
        return cls(int(source["previous_time_window"]), int(source["next_time_window"]))

    @property
    def length(self) -> int:
        return self.previous_time_window + self.next_time_window

    def as_dict(self) -> dict[str, int]:
        return {
            "previous_time_window": self.previous_time_window,
            "next_time_window": self.next_time_window,
        }

    def require(
        self,
        data: WindowSizes,
        model_name: str,
        data_name: str = "the data has windows of",
        fix: str | None = None,
        longer_inputs: bool = False,
    ) -> None:
        """A model forecasts only windows of the sizes it was trained on: refuse others in one
        sentence (evaluation, the champion comparison, monitoring and prediction all ask here).
        With `longer_inputs`, data windows with more inputs and the same horizon pass too: the
        model reads their most recent `previous_time_window` values (a champion trained before
        a data-chosen window, data.previous_time_window=auto, grew with the data)."""
        if self == data or (
            longer_inputs
            and data.next_time_window == self.next_time_window
            and data.previous_time_window > self.previous_time_window
        ):
            return
        fix = fix or (
            f"use data prepared with previous_time_window={self.previous_time_window} and "
            f"next_time_window={self.next_time_window}, or another model"
        )
        raise ArtifactError(
            f"{model_name} takes {self.previous_time_window} values and forecasts "
            f"{self.next_time_window}, but {data_name} {data.previous_time_window} in / "
            f"{data.next_time_window} out; {fix}."
        )


@dataclass(frozen=True)
class RollingOrigins:
    """Forecast origins over a series and what each one sees and must forecast.

    `origins[i]` is the index (in the series it came from) of window i's first target: its inputs
    are the `previous_time_window` values before it, its targets the `next_time_window` from it on.
    """

    origins: np.ndarray
    inputs: np.ndarray
    actual: np.ndarray

    def __len__(self) -> int:
        return len(self.origins)

    @property
    def next_time_window(self) -> int:
        return self.actual.shape[1]

    def aligned(self, forecast: np.ndarray, step: int, start: int, length: int) -> np.ndarray:
        """The `step`-ahead (1-based) forecasts placed at their target positions in
        `series[start:start + length]`, NaN elsewhere: a line to plot against the actuals."""
        line = np.full(length, np.nan)
        position = self.origins + step - 1 - start
        inside = (position >= 0) & (position < length)
        line[position[inside]] = np.asarray(forecast)[inside, step - 1]
        return line


def rolling_origins(
    values: np.ndarray, sizes: WindowSizes, window_starts: np.ndarray | None = None
) -> RollingOrigins:
    """Every full window of `values` (or those beginning at `window_starts`), gathered at once."""
    values = np.asarray(values, dtype=np.float64)
    if window_starts is None:
        window_starts = np.arange(max(len(values) - sizes.length + 1, 0))
    starts = np.asarray(window_starts, dtype=np.int64)
    windows = values[starts[:, None] + np.arange(sizes.length)].reshape(len(starts), sizes.length)
    previous = sizes.previous_time_window
    return RollingOrigins(
        origins=starts + previous, inputs=windows[:, :previous], actual=windows[:, previous:]
    )
