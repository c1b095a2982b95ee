"""Where series come from, chosen by `data.source`: synthetic markets and table files.

Every source is seen as of `data.as_of`: markets generate their path up to that day, and a file
with a date column loses its rows after it. A file without dates cannot be cut (`as_of_applies`
says so, and the prepared meta records it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stockcast.data.calendar import (
    after_day,
    day_text,
    known_through,
    parse_day,
    refuse_after_today,
)
from stockcast.data.markets import (
    available_values,
    gbm_market,
    geometric_brownian_motion,
    multi_ticker_market,
    seasonal_market,
    trend_seasonal_noise,
)
from stockcast.data.series import UNNAMED, Series
from stockcast.data.table_file import read_csv_series, read_table_series
from stockcast.errors import TooEarly, first_few

log = logging.getLogger(__name__)

__all__ = [
    "geometric_brownian_motion",
    "load_series",
    "read_csv_series",
    "read_table_series",
    "trend_seasonal_noise",
]

MARKET_SOURCES = ("gbm", "seasonal", "market")
SHOWN_SERIES = 5  # how many series left out the log names


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
            else Series(item.series_id, item.values[:keep], item.dates[:keep], item.zones)
        )
    return cut


def _file(cfg: Mapping[str, Any], format: str) -> list[Series]:
    # Rows the as_of cut drops are not checked: the newest month of a download listed before
    # its value is out, or a row repeated after the day a replay runs as of, refused no run.
    as_of = None if cfg.get("as_of") is None else parse_day(cfg["as_of"], "data.as_of")
    if as_of is not None:
        # As a market: the file's rows of a day that has not come are not out yet, so the
        # same as_of on that day would read other data than this run records.
        refuse_after_today(as_of, "a file")
    return read_table_series(
        cfg["path"],
        cfg.get("date_column"),
        cfg["value_column"],
        cfg.get("id_column"),
        format=cfg.get("format") or format,
        checked_through=None if as_of is None else known_through(cfg, as_of),
        separator=cfg.get("separator") or ",",
        decimal=cfg.get("decimal") or ".",
    )


SOURCES: dict[str, Callable[[Mapping[str, Any]], list[Series]]] = {
    "gbm": gbm_market,
    "seasonal": seasonal_market,
    "market": multi_ticker_market,
    "csv": lambda cfg: _file(cfg, "csv"),
    "parquet": lambda cfg: _file(cfg, "parquet"),
}


@dataclass(frozen=True)
class KnownSeries:
    """The series as of `data.as_of`, and the panel members that day's panel leaves out
    (`left_out`: each one's rows known then, fewer than the windows and split need)."""

    series: list[Series]
    left_out: dict[str, int] = field(default_factory=dict)


def load_series(data_cfg: Mapping[str, Any], min_values: int = 1) -> list[Series]:
    """The series named by `data.source` (one the config schema accepts), as of `data.as_of`
    (`known_series`)."""
    return known_series(data_cfg, min_values).series


def known_series(data_cfg: Mapping[str, Any], min_values: int = 1) -> KnownSeries:
    """The series named by `data.source`, as of `data.as_of`: a file's rows dated up to
    `data.release_lag_days` before it.

    `min_values` is what the windows and split need of each series. A panel member shorter than
    that as of the day (a ticker listed after it, or too recently) is not yet one the panel can
    train on: that day's panel is the others, and the member is left out (logged, and recorded
    by prepare), in a replay of a past day and in a daily run alike. Where every series is that
    short, the run is refused: naming as_of where its cut is what shortened one.
    """
    source = data_cfg["source"]
    if source in MARKET_SOURCES:
        have = available_values(data_cfg)
        if have < min_values:
            # Where data.length caps the days too, more days alone cannot help: say so.
            length = data_cfg.get("length")
            capped = length is not None and int(length) < min_values
            also = f" and raise data.length={length} (or set it to null)" if capped else ""
            raise TooEarly(
                f"data.as_of={data_cfg['as_of']} leaves {have} business day(s) since data."
                f"start_date={data_cfg['start_date']}, fewer than the {min_values} values the "
                "windows and split need",
                f" or an earlier data.start_date{also}, or shorten the windows",
            )
        return KnownSeries(SOURCES[source](data_cfg))
    series = SOURCES[source](data_cfg)
    if data_cfg.get("as_of") is None:  # a file source recorded before as_of existed
        return KnownSeries(series)
    as_of = parse_day(data_cfg["as_of"], "data.as_of")
    known = known_through(data_cfg, as_of)
    pairs = list(zip(series, until(series, known), strict=True))
    short = [(w, k) for w, k in pairs if len(k) < min_values]
    everything = KnownSeries([kept for _, kept in pairs])
    if not short:
        return everything
    if len(short) == len(pairs):
        # No series long enough: refused, naming as_of where its cut is what made one short
        # (else the windows' own refusal names the window sizes). Not where the whole series is
        # short too: no later as_of gives it the values the windows need.
        cut = [(w, k) for w, k in short if len(k) < len(w) and len(w) >= min_values]
        if cut:
            raise _too_short(data_cfg, as_of, known, *cut[0], min_values)
        return everything
    ends = [kept.dates[-1] for _, kept in pairs if kept.dates is not None and len(kept.dates)]
    # A short member that is not a listing building its history (a mistyped ticker, one that
    # stopped early) stays in, for the windows to refuse by name; the listings still go, or the
    # first of them (a ticker with no rows yet that day) was refused in its place.
    listing = [(w, k) for w, k in short if ends and _still_listing(w, k, max(ends))]
    if not listing:
        return everything
    left_out = {whole.series_id: len(kept) for whole, kept in listing}
    log.warning(
        "%d series hold fewer than the %d values the windows and split need as of %s (listed "
        "after it or too recently), so that day's panel leaves them out: %s",
        len(left_out),
        min_values,
        day_text(as_of),
        first_few((f"{name} ({rows} rows)" for name, rows in left_out.items()), SHOWN_SERIES),
    )
    return KnownSeries([kept for whole, kept in pairs if whole.series_id not in left_out], left_out)


def _still_listing(whole: Series, kept: Series, panel_end: np.datetime64) -> bool:
    """Whether a short panel member is a ticker listed after the day or too recently: the as_of
    cut shortened it (its rows go on after the day), or its rows run to the panel's last date
    (`panel_end`). One whose rows stop before it (a mistyped ticker, one that stopped early)
    is not."""
    if len(kept) < len(whole):
        return True
    return kept.dates is not None and len(kept.dates) > 0 and kept.dates[-1] >= panel_end


def _too_short(
    data_cfg: Mapping[str, Any],
    as_of: np.datetime64,
    known: np.datetime64,
    whole: Series,
    kept: Series,
    min_values: int,
) -> TooEarly:
    """A table without ids has one series, named as the data rather than by its placeholder."""
    lag = int(data_cfg.get("release_lag_days") or 0)
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
    return TooEarly(
        f"data.as_of={day_text(as_of)}{lagged} leaves "
        f"{'the data' if whole.series_id == UNNAMED else f'series {whole.series_id!r}'} "
        f"{len(kept)} "
        f"of its {len(whole)} rows (it starts on {first}), fewer than the {min_values} values "
        "the windows and split need",
        later,
    )
