"""Every series of a long table forecast at once: one model call over one row per id.

A watch list or an index is thousands of ids; a forward per id would cost more than the whole
start-up of the command. So the last window of each id is stacked into one matrix, the model runs
once, and only the calendars (usually one shared by every id) are worked out per distinct
calendar rather than per id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from stockcast.data.checks import check_series_values
from stockcast.data.date_steps import window_dates_refusal
from stockcast.data.series import Series
from stockcast.errors import DataError
from stockcast.forecasting.intervals import Bands
from stockcast.forecasting.output_guard import series_names
from stockcast.prediction.batch import (
    Refused,
    SeriesBatch,
    check_long_enough,
    named,
    refused_together,
)
from stockcast.prediction.batch_dates import shared_future_dates
from stockcast.prediction.forecast import Forecast
from stockcast.prediction.inputs import InputSeries
from stockcast.serving.model import OpenModel


@dataclass(frozen=True)
class BatchForecast:
    """Row i of every array belongs to `ids[i]`; dates are None when the table has none."""

    ids: list[str]
    windows: np.ndarray  # (n, previous_time_window)
    forecasts: np.ndarray  # (n, next_time_window)
    bands: Bands  # {level: (lower, upper)}, each (n, next_time_window)
    window_end: np.ndarray | None  # (n,) the last input date of each id
    dates: np.ndarray | None  # (n, next_time_window)
    frequencies: list[str] | None
    # The ids left out (`input.skip_refused`), in the input's order of their refusal.
    refused: tuple[Refused, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    def one(self, i: int) -> Forecast:
        """Row i as the single-series `Forecast` (for its plot)."""
        return Forecast(
            self.windows[i],
            None,
            self.forecasts[i],
            None if self.dates is None else self.dates[i],
            date_frequency=None if self.frequencies is None else self.frequencies[i],
            bands={level: (lo[i], up[i]) for level, (lo, up) in self.bands.items()},
        )

    def input_series(self, batch: SeriesBatch, i: int) -> InputSeries:
        item = next(item for item in batch.series if item.series_id == self.ids[i])
        label = f"{batch.details['value_column']} from {batch.details['path']} ({item.series_id})"
        details = {"series_id": item.series_id}
        return InputSeries(item.values, item.dates, label, details, item.zones)


def _non_positive(item: Series) -> str | None:
    """A price model's input holds prices, over each whole series as a single series' input is
    checked: the first value at or below 0, named by its series, position and date (the model
    alone could only name a row of the batch); None where there is none."""
    bad = np.flatnonzero(item.values <= 0)
    if not len(bad):
        return None
    first = int(bad[0])
    when = "" if item.dates is None else f" ({np.datetime_as_string(item.dates[first], 'D')})"
    return (
        f"series {item.series_id!r} holds {item.values[first]:g} at position {first + 1}"
        f"{when}, but prices are above 0; fix the data, or use a model trained with "
        "data.allow_non_positive=true."
    )


def _check_inputs(batch: SeriesBatch, model: OpenModel) -> None:
    """Refuse the batch in one sentence naming every series the reader or the input guard
    refuses (those `input.skip_refused` would leave out), so a file is fixed in one pass; ids
    too short are refused in a sentence of their own where the reader refused none."""
    p, h = model.previous_time_window, model.next_time_window
    if not batch.refused:
        check_long_enough(batch, p, f"the model ({p} values in, {h} out)")
    refused = list(batch.refused) + [
        Refused(item.series_id, reason)
        for item in batch.series
        if (reason := _input_refusal(item, model)) is not None
    ]
    if refused:
        count = len(batch) + len(batch.refused)
        raise refused_together(refused, count, batch.details["path"])


def _input_refusal(item: Series, model: OpenModel) -> str | None:
    """The sentence `_check_inputs` would refuse a batch of this series alone in; None where
    it passes."""
    p = model.previous_time_window
    if len(item) < p:
        return (
            f"series {item.series_id!r} holds {len(item)} values, fewer than the {p} the model "
            "reads; give it more history."
        )
    try:
        # Finite and within float32's range. Any key but "input" makes the refusal name the id
        # (the model alone could only name a row).
        check_series_values([item], True, key="input.path")
    except DataError as err:
        return str(err)
    dates_refusal = _window_dates_refusal(item, model)
    if dates_refusal is not None:
        return dates_refusal
    return None if model.allow_non_positive else _non_positive(item)


def _window_dates_refusal(item: Series, model: OpenModel) -> str | None:
    """`window_dates_refusal` of one series of the batch, naming it."""
    return window_dates_refusal(
        item.dates, model.metadata, model.previous_time_window, f"series {item.series_id!r}"
    )


def forecast_batch(
    model: OpenModel, batch: SeriesBatch, skip_refused: bool = False
) -> BatchForecast:
    """The next next_time_window values of every id, from its last previous_time_window ones,
    in one call of the model. An id the input or output guard refuses refuses the whole batch,
    or with `skip_refused` is left out and listed in the result's `refused`."""
    if not len(batch) and not batch.refused:
        raise DataError(f"{batch.details['path']} holds no series to forecast.")
    if skip_refused:
        return _forecast_skipping_refused(model, batch)
    _check_inputs(batch, model)
    windows = _last_windows(batch, model)
    forecasts, bands = model.forecast(windows, series_names(batch.ids))
    return _dated(
        BatchForecast(batch.ids, windows, forecasts, bands, None, None, None), batch, model
    )


def _forecast_skipping_refused(model: OpenModel, batch: SeriesBatch) -> BatchForecast:
    """Every id the guards pass, in one call of the model; the others in `refused`: first those
    whose rows the reader refused, then those whose input the guard refuses, in the input's
    order, then those whose forecast is."""
    refused = list(batch.refused)
    for item in batch.series:
        reason = _input_refusal(item, model)
        if reason is not None:
            refused.append(Refused(item.series_id, reason))
    batch = batch.without({item.series_id for item in refused})
    if not len(batch):
        raise _all_refused(refused, batch)
    windows = _last_windows(batch, model)
    forecasts, bands, absurd = model.forecast_each(windows, series_names(batch.ids))
    refused += [Refused(batch.ids[row], reason) for row, reason in absurd.items()]
    batch = batch.without({batch.ids[row] for row in absurd})
    if not len(batch):
        raise _all_refused(refused, batch)
    keep = np.setdiff1d(np.arange(len(windows)), list(absurd))
    bands = {level: (lower[keep], upper[keep]) for level, (lower, upper) in bands.items()}
    result = BatchForecast(
        batch.ids, windows[keep], forecasts[keep], bands, None, None, None, tuple(refused)
    )
    return _dated(result, batch, model)


def _last_windows(batch: SeriesBatch, model: OpenModel) -> np.ndarray:
    p = model.previous_time_window
    return np.stack([item.values[-p:] for item in batch.series])


def _dated(result: BatchForecast, batch: SeriesBatch, model: OpenModel) -> BatchForecast:
    """The result with each id's last input date and future dates, where the table has dates."""
    if batch.series[0].dates is None:
        return result
    window_end = np.array([item.dates[-1] for item in batch.series], dtype="datetime64[ns]")
    dates, frequencies = shared_future_dates(
        batch.series, model.next_time_window, model.previous_time_window, model.metadata
    )
    return replace(result, window_end=window_end, dates=dates, frequencies=frequencies)


def _all_refused(refused: Sequence[Refused], batch: SeriesBatch) -> DataError:
    return DataError(
        f"every one of the {len(refused)} series in {batch.details['path']} was refused "
        f"(input.skip_refused=true): {named([item.series_id for item in refused])}; the first: "
        f"{refused[0].reason}"
    )
