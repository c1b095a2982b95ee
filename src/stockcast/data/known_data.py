"""The series a run knows as of `data.as_of`, and the shortest windows its config can ask of
them: what prepares a run's data, checks a replay's days before they run, and rebuilds a model's
training data later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stockcast.data.auto_window import AUTO
from stockcast.data.series import Series
from stockcast.data.sources import KnownSeries, known_series
from stockcast.data.split import min_series_length, refuse_short_series
from stockcast.forecasting.windows import WindowSizes


def shortest_sizes(data_cfg: Mapping[str, Any]) -> WindowSizes:
    """The smallest windows the data config can give: its window, or the floor of an automatic
    one (`data.shortest_window`)."""
    requested = data_cfg["previous_time_window"]
    # Read only for an automatic window: a model's source saved before the setting has a number.
    inputs = int(data_cfg["shortest_window"]) if requested == AUTO else int(requested)
    return WindowSizes(inputs, int(data_cfg["next_time_window"]))


def known_data(data_cfg: Mapping[str, Any]) -> KnownSeries:
    """The series a run prepares as of `data.as_of`, each long enough for the shortest windows
    and split (a panel member too short as of then is left out): also what rebuilds a model's
    training data later."""
    return known_series(data_cfg, min_series_length(shortest_sizes(data_cfg), data_cfg["split"]))


def check_long_enough_as_of(data_cfg: Mapping[str, Any]) -> Sequence[Series]:
    """Refuse data that as of `data.as_of` is too short for the shortest windows and split:
    what says, before a replay's days run, whether a day has data to train on. Returns the
    series it read, for the replay's other checks of them."""
    series = known_data(data_cfg).series
    refuse_short(series, data_cfg)
    return series


def refuse_short(series: Sequence[Series], data_cfg: Mapping[str, Any]) -> None:
    """Refuse series too short for the config's shortest windows and split, naming the setting
    that asks for them (`data.shortest_window` where the window is automatic)."""
    inputs = (
        "shortest_window" if data_cfg["previous_time_window"] == AUTO else "previous_time_window"
    )
    refuse_short_series(
        series, shortest_sizes(data_cfg), data_cfg["split"], inputs, data_cfg.get("length")
    )
