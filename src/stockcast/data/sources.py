"""Where series come from, chosen by `data.source`: synthetic markets and table files.

Every source is seen as of `data.as_of`: markets generate their path up to that day, and a file
with a date column loses its rows after it. A file without dates cannot be cut (`as_of_applies`
says so, and the prepared meta records it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from stockcast.data.calendar import after_day, day_text, known_through, parse_day
from stockcast.data.markets import (
    available_values,
    gbm_market,
    geometric_brownian_motion,
    multi_ticker_market,
    seasonal_market,
    trend_seasonal_noise,
)
from stockcast.data.series import Series
from stockcast.data.table_file import read_csv_series, read_table_series
from stockcast.errors import DataError

log = logging.getLogger(__name__)

__all__ = [
    "geometric_brownian_motion",
    "load_series",
    "read_csv_series",
    "read_table_series",
    "trend_seasonal_noise",
]

MARKET_SOURCES = ("gbm", "seasonal", "market")


def as_of_applies(series: list[Series]) -> bool:
    """Whether every series has dates, so `data.as_of` can cut it."""
    return all(item.dates is not None for item in series)


def until(series: list[Series], as_of: np.datetime64) -> list[Series]:
    """Each dated series without its values after `as_of` (undated series stay whole)."""
    end = after_day(as_of)
    cut = []
    for item in series:
        if item.dates is None:
            cut.append(item)
            continue
        keep = int(np.searchsorted(item.dates, end, side="left"))
        cut.append(
            item
            if keep == len(item)
            else Series(item.series_id, item.values[:keep], item.dates[:keep])
        )
    return cut


def _file(cfg: Mapping[str, Any], format: str) -> list[Series]:
    # Rows the as_of cut drops are not checked: the newest month of a download listed before
    # its value is out, or a row repeated after the day a replay runs as of, refused no run.
    as_of = cfg.get("as_of")
    return read_table_series(
        cfg["path"],
        cfg.get("date_column"),
        cfg["value_column"],
        cfg.get("id_column"),
        format=cfg.get("format") or format,
        checked_through=None
        if as_of is None
        else known_through(cfg, parse_day(as_of, "data.as_of")),
    )


SOURCES: dict[str, Callable[[Mapping[str, Any]], list[Series]]] = {
    "gbm": gbm_market,
    "seasonal": seasonal_market,
    "market": multi_ticker_market,
    "csv": lambda cfg: _file(cfg, "csv"),
    "parquet": lambda cfg: _file(cfg, "parquet"),
}


def load_series(data_cfg: Mapping[str, Any], min_values: int = 1) -> list[Series]:
    """The series named by `data.source` (one the config schema accepts), as of `data.as_of`:
    a file's rows dated up to `data.release_lag_days` before it.

    `min_values` is what the windows and split need of each series: when `as_of` is what leaves a
    series shorter than that, the refusal names as_of rather than the window sizes.
    """
    source = data_cfg["source"]
    if source in MARKET_SOURCES:
        have = available_values(data_cfg)
        if have < min_values:
            raise DataError(
                f"data.as_of={data_cfg['as_of']} leaves {have} business day(s) since data."
                f"start_date={data_cfg['start_date']}, fewer than the {min_values} values the "
                "windows and split need; pick a later data.as_of or an earlier data.start_date."
            )
        return SOURCES[source](data_cfg)
    series = SOURCES[source](data_cfg)
    if data_cfg.get("as_of") is None:  # a file source recorded before as_of existed
        return series
    as_of = parse_day(data_cfg["as_of"], "data.as_of")
    lag = int(data_cfg.get("release_lag_days") or 0)
    known = known_through(data_cfg, as_of)
    pairs = list(zip(series, until(series, known), strict=True))
    listed = [(whole, kept) for whole, kept in pairs if len(kept)]
    if listed and len(listed) < len(pairs):
        # A panel member whose first row is dated after the day was not in the data as of then
        # (a ticker listed later): the panel of that day is the others. Data of no series at all
        # is still refused below.
        for whole, kept in pairs:
            if not len(kept):
                assert whole.dates is not None
                log.info(
                    "series %r starts on %s, after the rows data.as_of=%s knows: left out",
                    whole.series_id,
                    day_text(whole.dates[0].astype("datetime64[D]")),
                    day_text(as_of),
                )
        pairs = listed
    for whole, kept in pairs:
        if len(kept) == len(whole) or len(kept) >= min_values:
            continue
        assert whole.dates is not None
        first = day_text(whole.dates[0].astype("datetime64[D]"))
        lagged, later = (
            (
                f" with data.release_lag_days={lag} (rows dated up to {day_text(known)})",
                " or a smaller data.release_lag_days, if the data is out sooner",
            )
            if lag
            else ("", "")
        )
        raise DataError(
            f"data.as_of={day_text(as_of)}{lagged} leaves series {whole.series_id!r} {len(kept)} "
            f"of its {len(whole)} rows (it starts on {first}), fewer than the {min_values} values "
            f"the windows and split need; pick a later data.as_of{later}."
        )
    return [kept for _, kept in pairs]
