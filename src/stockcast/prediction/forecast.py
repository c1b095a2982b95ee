"""One forecast from the last window, and backtests where the future is known."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from stockcast.errors import ConfigError, DataError
from stockcast.prediction.calendar import future_dates
from stockcast.prediction.inputs import InputSeries

WINDOW_KEYS = ("previous_time_window", "next_time_window")


class PriceModel(Protocol):
    def predict(self, model_input: Any) -> Any: ...


@dataclass(frozen=True)
class LoadedModel:
    """A registered version, loaded: the pyfunc plus what the registry and metadata say of it."""

    name: str
    version: int
    aliases: tuple[str, ...]
    metadata: dict[str, Any]
    pyfunc: PriceModel

    @property
    def previous_time_window(self) -> int:
        return int(self.metadata["previous_time_window"])

    @property
    def next_time_window(self) -> int:
        return int(self.metadata["next_time_window"])

    @property
    def label(self) -> str:
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.name} version {self.version}{aliases}"

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Rows of previous_time_window raw prices -> rows of next_time_window raw prices."""
        # A fresh writable copy: slices of pandas-backed arrays can be read-only, which torch
        # warns about when it wraps them.
        rows = np.array(windows, dtype=np.float64, ndmin=2)
        return np.asarray(self.pyfunc.predict(rows), dtype=np.float64)


def check_window_overrides(requested: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
    """Window sizes belong to the model; an explicit value that disagrees is a mistake, refused."""
    for key in WINDOW_KEYS:
        wanted = requested.get(key)
        if wanted is not None and not isinstance(wanted, int):
            raise ConfigError(f"{key}={wanted!r} is not a whole number; drop it or give one.")
        if wanted is not None and wanted != int(metadata[key]):
            raise ConfigError(
                f"{key}={wanted} disagrees with the model, which was trained with "
                f"{key}={metadata[key]}; drop the override or pick a model trained with {wanted}."
            )


@dataclass(frozen=True)
class Forecast:
    """The forecast of the steps after `window`; `actual` only when the future is known."""

    window: np.ndarray
    window_x: np.ndarray | None
    forecast: np.ndarray
    x: np.ndarray | None
    actual: np.ndarray | None = None
    date_frequency: str | None = None

    @property
    def steps(self) -> np.ndarray:
        return np.arange(1, len(self.forecast) + 1)


def _require(series: InputSeries, needed: int, why: str) -> None:
    if len(series.values) < needed:
        raise DataError(
            f"the {why} needs at least {needed} input values but the input ({series.description}) "
            f"holds {len(series.values)}; give {needed - len(series.values)} more."
        )


def forecast_next(model: LoadedModel, series: InputSeries) -> Forecast:
    """Forecast the next next_time_window values from the last previous_time_window ones."""
    p, h = model.previous_time_window, model.next_time_window
    _require(series, p, f"model ({p} values in, {h} out)")
    window = series.values[-p:]
    prediction = model.predict(window)[0]
    if series.dates is None:
        return Forecast(window, None, prediction, None)
    dates, frequency = future_dates(series.dates, h)
    return Forecast(window, series.dates[-p:], prediction, dates, date_frequency=frequency)


def forecast_held_out(model: LoadedModel, series: InputSeries) -> Forecast:
    """Hide the last next_time_window values, forecast them from the window before, compare."""
    p, h = model.previous_time_window, model.next_time_window
    _require(series, p + h, f"backtest ({p} values in, {h} held out)")
    window = series.values[-(p + h) : -h]
    prediction = model.predict(window)[0]
    dates = series.dates
    return Forecast(
        window,
        None if dates is None else dates[-(p + h) : -h],
        prediction,
        None if dates is None else dates[-h:],
        actual=series.values[-h:],
    )


@dataclass(frozen=True)
class RollingBacktest:
    """Forecasts from every origin whose targets lie in the last `span` values of the input.

    `forecasts[i, k]` is the (k+1)-step-ahead forecast made at origin `origins[i]`, whose target
    is `series[origins[i] + k]`; `naive` repeats the last known value (the baseline to beat).
    """

    origins: np.ndarray
    forecasts: np.ndarray
    actual: np.ndarray
    naive: np.ndarray
    stretch_start: int

    def mae_by_step(self) -> np.ndarray:
        return np.abs(self.forecasts - self.actual).mean(axis=0)

    def naive_mae_by_step(self) -> np.ndarray:
        return np.abs(self.naive - self.actual).mean(axis=0)

    def aligned(self, step: int, length: int) -> np.ndarray:
        """The `step`-ahead forecasts placed at their target positions within the stretch."""
        line = np.full(length, np.nan)
        line[self.origins + step - 1 - self.stretch_start] = self.forecasts[:, step - 1]
        return line


def rolling_backtest(model: LoadedModel, series: InputSeries, span: int) -> RollingBacktest:
    """Every full window with targets in the last `span` values, forecast in one batch."""
    p, h = model.previous_time_window, model.next_time_window
    _require(series, p + h, f"backtest ({p} values in, {h} held out)")
    if span < h:
        raise ConfigError(
            f"backtest.span is {span}; it must cover at least the {h} forecast steps."
        )
    n = len(series.values)
    stretch_start = max(p, n - span)
    # origin = index of the first target; its inputs are [origin - p, origin).
    origins = np.arange(stretch_start, n - h + 1)
    gathered = series.values[origins[:, None] + np.arange(-p, h)]
    forecasts = model.predict(gathered[:, :p])
    actual = gathered[:, p:]
    naive = np.repeat(gathered[:, p - 1 : p], h, axis=1)
    return RollingBacktest(origins, forecasts, actual, naive, stretch_start)
