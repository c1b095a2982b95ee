"""One forecast from the last window, and backtests where the future is known."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stockcast.data.date_format import format_date
from stockcast.data.date_steps import window_dates_refusal
from stockcast.errors import ArtifactError, ConfigError, DataError
from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.intervals import Bands
from stockcast.forecasting.metrics import coverage, forecast_errors
from stockcast.forecasting.windows import (
    WINDOW_KEYS,
    RollingOrigins,
    WindowSizes,
    rolling_origins,
)
from stockcast.prediction.calendar import calendar_to_continue
from stockcast.prediction.inputs import InputSeries
from stockcast.prediction.zoned_dates import future_dates
from stockcast.serving.model import OpenModel


def check_window_overrides(requested: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
    """Window sizes belong to the model; an explicit value that disagrees is a mistake, refused
    naming only the sizes the command line gave (a size it left out is the model's, not asked)."""
    model = WindowSizes.of(metadata)
    given = {key: int(requested[key]) for key in WINDOW_KEYS if requested.get(key) is not None}
    if all(value == model.as_dict()[key] for key, value in given.items()):
        return
    asked = " and ".join(f"{key}={value}" for key, value in given.items())
    them = "them" if len(given) > 1 else "it"
    raise ArtifactError(
        f"the model takes {model.previous_time_window} values and forecasts "
        f"{model.next_time_window}, but the command line asks for {asked}; drop {asked} or "
        f"pick a model trained with {them}."
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
    # {level: (lower, upper)}, each of shape (next_time_window,).
    bands: Bands = field(default_factory=dict)


def _require(series: InputSeries, needed: int, why: str) -> None:
    if len(series.values) < needed:
        raise DataError(
            f"the {why} needs at least {needed} input values but the input ({series.description}) "
            f"holds {len(series.values)}; give {needed - len(series.values)} more."
        )


def _require_steps(model: OpenModel, series: InputSeries, read: int) -> None:
    """The input's dates have the frequency of the model's data and keep their calendar's step
    among the last `read` values: a month missing there would be read as the month before it."""
    reason = window_dates_refusal(
        series.dates, model.metadata, read, f"the input ({series.description})"
    )
    if reason is not None:
        raise DataError(reason)


def forecast_next(model: OpenModel, series: InputSeries) -> Forecast:
    """Forecast the next next_time_window values from the last previous_time_window ones."""
    p, h = model.previous_time_window, model.next_time_window
    _require(series, p, f"model ({p} values in, {h} out)")
    _require_steps(model, series, p)
    window = series.values[-p:]
    prediction, bands = _first_row(*model.forecast(window))
    if series.dates is None:
        return Forecast(window, None, prediction, None, bands=bands)
    continued = calendar_to_continue(series.dates, p, model.metadata)
    dates, frequency = future_dates(continued, h, series.zones)
    return Forecast(
        window, series.dates[-p:], prediction, dates, date_frequency=frequency, bands=bands
    )


def _first_row(point: np.ndarray, bands: Bands) -> tuple[np.ndarray, Bands]:
    return point[0], {level: (lower[0], upper[0]) for level, (lower, upper) in bands.items()}


def forecast_held_out(model: OpenModel, series: InputSeries) -> Forecast:
    """Hide the last next_time_window values, forecast them from the window before, compare."""
    p, h = model.previous_time_window, model.next_time_window
    _require(series, p + h, f"backtest ({p} values in, {h} held out)")
    _require_steps(model, series, p + h)
    window = series.values[-(p + h) : -h]
    prediction, bands = _first_row(*model.forecast(window))
    dates = series.dates
    return Forecast(
        window,
        None if dates is None else dates[-(p + h) : -h],
        prediction,
        None if dates is None else dates[-h:],
        actual=series.values[-h:],
        bands=bands,
    )


@dataclass(frozen=True)
class RollingBacktest:
    """Forecasts from every origin whose targets lie in the input's last `span` values, with the
    naive forecast from the same origins (the baseline to beat)."""

    windows: RollingOrigins
    forecasts: np.ndarray
    naive: np.ndarray
    stretch_start: int
    bands: Bands = field(default_factory=dict)

    @property
    def origins(self) -> np.ndarray:
        return self.windows.origins

    @property
    def actual(self) -> np.ndarray:
        return self.windows.actual

    def mae_by_step(self) -> np.ndarray:
        return _mae_by_step(self.forecasts, self.actual)

    def naive_mae_by_step(self) -> np.ndarray:
        return _mae_by_step(self.naive, self.actual)

    def coverage(self) -> dict[str, float]:
        """Share of targets inside each level's band, over every origin and step."""
        actual = self.actual
        return {
            level: coverage(actual, lower, upper) for level, (lower, upper) in self.bands.items()
        }

    def aligned(self, step: int, length: int) -> np.ndarray:
        """The `step`-ahead forecasts placed at their target positions within the stretch."""
        return self.windows.aligned(self.forecasts, step, self.stretch_start, length)


def _mae_by_step(forecast: np.ndarray, actual: np.ndarray) -> np.ndarray:
    # MAE needs no MASE scale; 1.0 leaves it in price units.
    return forecast_errors(forecast, actual, mase_scale=1.0)["mae"]


def window_names(series: InputSeries, origins: np.ndarray) -> list[str]:
    """How a refusal names each rolling window: by its last input's date, else its position."""
    if series.dates is None:
        return [f"the window ending at value {int(origin)}" for origin in origins]
    return [f"the window ending {format_date(series.dates[origin - 1])}" for origin in origins]


def rolling_backtest(model: OpenModel, series: InputSeries, span: int) -> RollingBacktest:
    """Every full window with targets in the last `span` values, forecast in one batch."""
    p, h = model.previous_time_window, model.next_time_window
    _require(series, p + h, f"backtest ({p} values in, {h} held out)")
    if span < h:
        raise ConfigError(
            f"backtest.span is {span}; it must cover at least the {h} forecast steps."
        )
    n = len(series.values)
    stretch_start = max(p, n - span)
    _require_steps(model, series, n - (stretch_start - p))
    # A window starting at s has its first target (its origin) at s + p.
    windows = rolling_origins(
        series.values, model.sizes, np.arange(stretch_start - p, n - h - p + 1)
    )
    forecasts, bands = model.forecast(windows.inputs, window_names(series, windows.origins))
    return RollingBacktest(
        windows, forecasts, naive_forecast(windows.inputs, h), stretch_start, bands
    )
