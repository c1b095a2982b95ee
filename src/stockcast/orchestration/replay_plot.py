"""A replay's plot: the prices the newest prepared day holds, each day's champion forecast from
the ledger with its narrowest band, the live error against naive and the champion, day by day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from stockcast.data.calendar import known_through
from stockcast.data.prepared import PreparedData
from stockcast.evaluation.maturity import observed_series
from stockcast.evaluation.replay_figure import plot_replay_days
from stockcast.orchestration.steps.run_folders import port_folder
from stockcast.orchestration.steps.table import PREPARED
from stockcast.registry.ledger import LEDGER_FILE, Ledger


def plot_replay(
    path: Path, cfg: DictConfig, ledger_dir: Path, run_dir: Path, entries: list[dict[str, Any]]
) -> Path:
    """Prices with each day's champion forecast and narrowest band; live error vs naive; champion.
    `ledger_dir`: the folder of the replay's ledger (its store's, unless monitor.ledger_dir)."""

    # The newest data a day prepared: a day refused for want of new data, or one that failed,
    # prepared none, and the days before it drew the same prices up to it.
    prepared = (port_folder(run_dir / "days" / entry["as_of"], PREPARED) for entry in entries)
    last_prepared = next((f for f in reversed(list(prepared)) if f.is_dir()), None)
    observed = (
        observed_series(PreparedData.load(last_prepared))[0] if last_prepared is not None else None
    )
    ledger_file = ledger_dir / LEDGER_FILE
    # A day's forecast starts after its data's last date, which a release lag puts that many
    # days before the day itself.
    first_day = str(known_through(cfg.data, np.datetime64(entries[0]["as_of"], "D")))
    forecasts = (
        [
            f
            for f in Ledger(ledger_file, cfg.monitor.ledger_timeout_s).forecasts(
                cfg.registry.model_name
            )
            if observed is not None
            and f.series_id == observed.series_id
            and f.origin_date >= first_day
        ]
        if ledger_file.is_file()
        else []
    )
    return plot_replay_days(path, observed, forecasts, entries, int(cfg.replay.plot_history))
