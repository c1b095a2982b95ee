"""The champion's forecast of today, stored in the forecast ledger so the monitor can score it
once the values after its origin arrive."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stockcast.data.date_format import format_dates
from stockcast.errors import first_few
from stockcast.evaluation.maturity import Observed
from stockcast.forecasting.output_guard import series_names
from stockcast.prediction.zoned_dates import future_dates
from stockcast.registry.ledger import Ledger, LedgerForecast
from stockcast.registry.store import ModelRegistry, VersionInfo
from stockcast.serving.model import open_version

SHOWN_SERIES = 5  # how many series the log names

log = logging.getLogger(__name__)


def long_enough(observed: Sequence[Observed], width: int) -> list[Observed]:
    """The series with at least `width` values: those a model reading `width` can forecast."""
    return [series for series in observed if len(series.values) >= width]


def champion_forecasts(
    registry: ModelRegistry,
    champion: VersionInfo,
    observed: Sequence[Observed],
    workdir: Path,
) -> list[LedgerForecast]:
    """The champion's forecast of every series from its last date (loads the model): from the
    last values of each series' whole history, as many as the champion reads, over its own
    horizon. Either may differ from today's prepared windows (data.previous_time_window=auto
    follows the data: a short new series shrinks it, a longer history grows it; a champion
    from before data.next_time_window changed forecasts its own number of values until a
    version of the new horizon takes its place). A series shorter than the champion's window
    gets no forecast (logged)."""
    model = open_version(registry, champion, workdir / f"champion_v{champion.version}")
    width = model.previous_time_window
    kept = long_enough(observed, width)
    short = [s.series_id for s in observed if len(s.values) < width]
    if short:
        log.warning(
            "%s reads %d values; %d series have fewer and get no forecast today: %s",
            registry.label(champion),
            width,
            len(short),
            first_few(short, SHOWN_SERIES),
        )
    if not kept:
        return []
    windows = np.stack([s.values[-width:] for s in kept])
    point, bands = model.forecast(windows, series_names([s.series_id for s in kept]))
    forecasts = []
    for i, series in enumerate(kept):
        # Zoned daily closes go on on their zone's clock, as predict's forecasts do: in UTC,
        # the first target after a daylight saving change is a time no row of the data holds.
        targets, _ = future_dates(
            np.asarray(series.dates, dtype="datetime64[ns]"), model.next_time_window, series.zones
        )
        forecasts.append(
            LedgerForecast(
                model_name=registry.model_name,
                model_version=champion.version,
                series_id=series.series_id,
                origin_date=series.dates[-1],
                target_dates=tuple(format_dates(targets, whole_seconds=True)),
                point=tuple(point[i].tolist()),
                naive=float(series.values[-1]),
                bands={
                    lvl: (tuple(lo[i].tolist()), tuple(up[i].tolist()))
                    for lvl, (lo, up) in bands.items()
                },
            )
        )
    return forecasts


def store_champion_forecast(
    ledger: Ledger,
    registry: ModelRegistry,
    champion: VersionInfo,
    observed: Sequence[Observed],
    workdir: Path,
) -> int:
    """Store today's forecast once: a rerun finds it in the ledger and loads no model. The
    series too short for the champion's window (its version tag) get none, so a rerun does not
    wait for them."""
    width = int(champion.tags.get("previous_time_window") or 0)
    keys = [
        (registry.model_name, champion.version, s.series_id, s.dates[-1])
        for s in long_enough(observed, width)
    ]
    if all(ledger.has(key) for key in keys):
        return 0
    return ledger.append(champion_forecasts(registry, champion, observed, workdir))
