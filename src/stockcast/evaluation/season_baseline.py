"""Refusing an `evaluate.season_length` the test windows have too little past for: the
seasonal-naive baseline reads each target's value a season back from its series' past, and
where one window has less than a season of it the whole baseline is left out of the report."""

from __future__ import annotations

from typing import Any

from stockcast.data.mase_scales import series_of_windows
from stockcast.data.prepared import PreparedData
from stockcast.errors import ConfigError
from stockcast.evaluation.evaluate import window_history


def shortest_test_past(prepared: PreparedData) -> int | None:
    """How many values of its series the test window with the least past has before its first
    target (the season a seasonal-naive forecast of every window can reach back); None without
    test windows."""
    windows = prepared.splits["test"].origins(prepared.window)
    if len(windows) == 0:
        return None
    series = series_of_windows(prepared.splits["test"], windows.origins)
    history = window_history(prepared, windows, series)
    return int((history["history_targets"] - history["history_offsets"][series]).min())


def check_season_length(season_length: Any, prepared: PreparedData) -> None:
    """Refuse a set `evaluate.season_length` longer than `shortest_test_past`: it asks for a
    baseline that would be left out after the scoring, with only a log line to say so. The
    data's own season (null) is only warned of there: nobody asked for it."""
    if season_length is None:
        return
    past = shortest_test_past(prepared)
    if past is None or int(season_length) <= past:
        return
    raise ConfigError(
        f"evaluate.season_length is {season_length}, longer than the {past} values one test "
        "window has of its series before it, so the report would have no seasonal-naive "
        f"baseline; set at most {past}, or null for the data's season."
    )
