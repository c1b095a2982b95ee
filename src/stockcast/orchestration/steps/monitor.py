"""Monitor step: ledger + prepared folder -> monitor/ (live scores, flag, optional rollback).

Each run stores the champion's forecast from the data's last date (the as_of origin) in the
forecast ledger, then scores every ledger forecast whose target dates have arrived in the data:
per model version, and over the last `monitor.window` matured origins, against the naive
forecast made at the same origin. A champion whose live error exceeds `monitor.max_ratio_vs_naive`
times the naive one is flagged and, with `monitor.rollback=true`, the alias goes back to the
previous champion the monitor saw. Needs dated data: forecasts mature by date.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from stockcast.config.task import hydra_task
from stockcast.data.prepared import PreparedData
from stockcast.errors import ArtifactError, ConfigError
from stockcast.evaluation.plots import plot_live_errors
from stockcast.files import write_json
from stockcast.forecasting import (
    check_window_sizes,
    interval_errors,
    pooled_errors,
    split_forecast_frame,
)
from stockcast.orchestration.steps.table import (
    DECISION_FILE,
    LEDGER_FILE,
    MONITOR_PLOT_FILE,
    REPORT_FILE,
)
from stockcast.registry.ledger import Ledger, LedgerForecast, previous_champion
from stockcast.registry.lock import sqlite_file
from stockcast.registry.store import ModelRegistry, VersionInfo

# The tag a rolled-back version carries: why the monitor took the alias away from it.
log = logging.getLogger(__name__)


ROLLBACK_TAG = "stockcast.rolled_back"
OK, FLAGGED, ROLLED_BACK = "ok", "flagged", "rolled back"
NO_CHAMPION, SKIPPED = "no champion", "skipped"


@dataclass(frozen=True)
class Observed:
    """One series as the data shows it today: values and their ISO dates."""

    series_id: str
    values: np.ndarray
    dates: tuple[str, ...]


@dataclass(frozen=True)
class Matured:
    """A ledger forecast whose every target date is in the data, with the actual values."""

    forecast: LedgerForecast
    actual: np.ndarray


def iso_dates(dates: np.ndarray) -> tuple[str, ...]:
    """ISO dates (with the time only for intraday data), the ledger's date format."""
    dates = np.asarray(dates, dtype="datetime64[ns]")
    days = dates.astype("datetime64[D]")
    if (days == dates).all():
        return tuple(np.datetime_as_string(days, unit="D").tolist())
    return tuple(np.datetime_as_string(dates, unit="s").tolist())


def observed_series(prepared: PreparedData) -> list[Observed]:
    """Each full series back from its splits (val and test start with train's last values as
    context, which appear once here); None dates when the data has none."""
    context = prepared.window.previous_time_window
    observed = []
    for i, series_id in enumerate(prepared.splits["train"].series_ids):
        values, dates = [], []
        for name, split in prepared.splits.items():
            skip = 0 if name == "train" else context
            start, stop = split.offsets[i] + skip, split.offsets[i + 1]
            values.append(split.values[start:stop])
            if split.dates is not None:
                dates.append(split.dates[start:stop])
        observed.append(
            Observed(series_id, np.concatenate(values), iso_dates(np.concatenate(dates)))
        )
    return observed


def mature(
    forecasts: Iterable[LedgerForecast], observed: Sequence[Observed]
) -> tuple[list[Matured], int]:
    """The forecasts whose target dates all have values, and how many are still waiting."""
    known = {s.series_id: dict(zip(s.dates, s.values.tolist(), strict=True)) for s in observed}
    matured, waiting = [], 0
    for forecast in forecasts:
        values = known.get(forecast.series_id, {})
        actual = [values.get(date) for date in forecast.target_dates]
        if any(value is None for value in actual):
            waiting += 1
        else:
            matured.append(Matured(forecast, np.asarray(actual, dtype=np.float64)))
    return matured, waiting


def live_scores(matured: Sequence[Matured], mase_scale: float) -> dict[str, Any]:
    """MAE, MASE, the same for the naive forecasts of the same origins, their ratio and the
    interval coverage per level, pooled over every matured (forecast, step) pair."""
    if not matured:
        return {"matured": 0, "origins": 0}
    actual = np.concatenate([m.actual for m in matured])
    point = np.concatenate([m.forecast.point for m in matured])
    naive = np.concatenate([np.full(len(m.actual), m.forecast.naive) for m in matured])
    model, baseline = (
        pooled_errors(point, actual, mase_scale),
        pooled_errors(naive, actual, mase_scale),
    )
    coverage = {}
    for level in sorted({lvl for m in matured for lvl in m.forecast.bands}, key=int):
        rows = [m for m in matured if level in m.forecast.bands]
        lower = np.concatenate([m.forecast.bands[level][0] for m in rows])
        upper = np.concatenate([m.forecast.bands[level][1] for m in rows])
        target = np.concatenate([m.actual for m in rows])
        errors = interval_errors(target[:, None], lower[:, None], upper[:, None], level)
        coverage[level] = float(errors["coverage"][0])
    origins = sorted({m.forecast.origin_date for m in matured})
    return {
        "matured": len(matured),
        "origins": len(origins),
        "first_origin": origins[0],
        "last_origin": origins[-1],
        "mae": model["mae"],
        "mase": model["mase"],
        "naive_mae": baseline["mae"],
        "naive_mase": baseline["mase"],
        "ratio_vs_naive": model["mae"] / baseline["mae"] if baseline["mae"] > 0 else None,
        "coverage": coverage,
    }


def last_origins(matured: Sequence[Matured], window: int) -> list[Matured]:
    """The matured forecasts of the last `window` distinct origin dates."""
    kept = set(sorted({m.forecast.origin_date for m in matured})[-window:])
    return [m for m in matured if m.forecast.origin_date in kept]


def ledger_path(cfg: DictConfig) -> Path:
    """`monitor.ledger_dir`, or the folder of the local MLflow store when it is null."""
    folder = cfg.monitor.ledger_dir
    if folder is None:
        store = sqlite_file(cfg.registry.tracking_uri)
        if store is None:
            raise ConfigError(
                f"monitor.ledger_dir is not set and the registry {cfg.registry.tracking_uri} is "
                "not a local SQLite store to keep it beside; set monitor.ledger_dir to a folder."
            )
        folder = store.parent
    return Path(folder) / LEDGER_FILE


# -- the champion's forecast -----------------------------------------------------------------


def champion_forecasts(
    registry: ModelRegistry,
    champion: VersionInfo,
    observed: Sequence[Observed],
    workdir: Path,
    window: tuple[int, int],
) -> list[LedgerForecast]:
    """The champion's forecast of every series from its last date (loads the model)."""
    from stockcast.prediction.calendar import future_dates

    loaded = registry.load(champion, workdir / f"champion_v{champion.version}")
    meta = loaded.metadata
    check_window_sizes(
        (meta["previous_time_window"], meta["next_time_window"]),
        window,
        registry.label(champion),
        "the prepared data has windows of",
        "prepare the data with the champion's window sizes",
    )
    previous, horizon = window
    inputs = np.stack([s.values[-previous:] for s in observed])
    point, bands = split_forecast_frame(loaded.pyfunc.predict(inputs))
    forecasts = []
    for i, series in enumerate(observed):
        targets, _ = future_dates(np.asarray(series.dates, dtype="datetime64[ns]"), horizon)
        forecasts.append(
            LedgerForecast(
                model_name=registry.model_name,
                model_version=champion.version,
                series_id=series.series_id,
                origin_date=series.dates[-1],
                target_dates=iso_dates(targets),
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
    window: tuple[int, int],
) -> int:
    """Store today's forecast once: a rerun finds it in the ledger and loads no model."""
    keys = [(registry.model_name, champion.version, s.series_id, s.dates[-1]) for s in observed]
    if all(ledger.has(key) for key in keys):
        return 0
    return ledger.append(champion_forecasts(registry, champion, observed, workdir, window))


# -- flag and rollback -----------------------------------------------------------------------


def judge(cfg: DictConfig, champion_live: dict[str, Any], version: int) -> dict[str, Any]:
    """Whether the champion's live ratio to naive is over the limit, with enough evidence."""
    limit, needed = float(cfg.monitor.max_ratio_vs_naive), int(cfg.monitor.min_matured)
    ratio, matured = champion_live.get("ratio_vs_naive"), champion_live["matured"]
    if matured < needed or ratio is None:
        return {
            "flagged": False,
            "reason": f"version {version} has {matured} matured forecast(s) in the window; "
            f"judging needs monitor.min_matured={needed}",
        }
    flagged = ratio > limit
    return {
        "flagged": flagged,
        "reason": f"version {version}'s live MAE is {ratio:.3f}x the naive forecast's over its "
        f"last {matured} matured forecasts ({'above' if flagged else 'within'} "
        f"monitor.max_ratio_vs_naive={limit:g})",
    }


def roll_back(
    cfg: DictConfig,
    registry: ModelRegistry,
    ledger: Ledger,
    flagged: VersionInfo,
    reason: str,
    as_of: str,
) -> dict[str, Any]:
    """Move the alias from `flagged` to the previous champion, under the store's write lock and
    only if the alias still points at `flagged` (another run may have moved it meanwhile)."""
    alias = cfg.register.alias
    with registry.writing():
        versions = {v.version: v for v in registry.versions()}
        current = next((v for v in versions.values() if alias in v.aliases), None)
        if current is None or current.version != flagged.version:
            return {
                "done": False,
                "reason": f"the {alias} alias moved meanwhile; nothing rolled back",
            }
        demoted = [v.version for v in versions.values() if ROLLBACK_TAG in v.tags]
        history = ledger.champion_history(registry.model_name, alias)
        target = previous_champion(history, flagged.version, demoted)
        if target is None or target not in versions:
            return {"done": False, "reason": "no previous champion to roll back to"}
        registry.client().set_model_version_tag(
            registry.model_name, str(flagged.version), ROLLBACK_TAG, f"{as_of}: {reason}"
        )
        registry.promote(alias, versions[target])
    ledger.record_champion(
        registry.model_name, alias, target, as_of, f"rollback from {flagged.version}"
    )
    return {"done": True, "from": flagged.version, "to": target, "reason": reason}


# -- outputs ---------------------------------------------------------------------------------


def origin_history(matured: Sequence[Matured]) -> list[dict[str, Any]]:
    """Per origin date and version: live MAE and the naive MAE (what the plot draws)."""
    groups: dict[tuple[str, int], list[Matured]] = {}
    for m in matured:
        groups.setdefault((m.forecast.origin_date, m.forecast.model_version), []).append(m)
    history = []
    for (origin, version), rows in sorted(groups.items()):
        actual = np.concatenate([m.actual for m in rows])
        point = np.concatenate([m.forecast.point for m in rows])
        naive = np.concatenate([np.full(len(m.actual), m.forecast.naive) for m in rows])
        history.append(
            {
                "origin": origin,
                "version": version,
                "mae": float(np.abs(point - actual).mean()),
                "naive_mae": float(np.abs(naive - actual).mean()),
            }
        )
    return history


def log_to_mlflow(
    cfg: DictConfig, registry: ModelRegistry, report: dict[str, Any], output: Path
) -> str:
    """One run per monitor run in `monitor.experiment_name`: live metrics, report and plot."""
    from stockcast.orchestration.sweeps.tracking import prepare_store
    from stockcast.registry.runs import owner_tags

    client = registry.client()
    experiment_id = prepare_store(
        registry.tracking_uri, cfg.monitor.experiment_name, cfg.registry.get("artifact_location")
    )
    run = client.create_run(experiment_id, run_name=f"monitor-{report['as_of']}", tags=owner_tags())
    run_id = run.info.run_id
    client.log_param(run_id, "as_of", report["as_of"])
    client.log_param(run_id, "champion_version", report["champion"])
    for scope in ("live", "champion_live"):
        for name, value in report[scope].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                client.log_metric(run_id, f"{scope}_{name}", float(value))
        for level, value in report[scope].get("coverage", {}).items():
            client.log_metric(run_id, f"{scope}_coverage_{level}", value)
    client.log_metric(run_id, "flagged", float(report["flag"]["flagged"]))
    for name in (REPORT_FILE, MONITOR_PLOT_FILE):
        client.log_artifact(run_id, str(output / name))
    client.set_terminated(run_id)
    return run_id


def finish(
    output: Path,
    report: dict[str, Any],
    history: Sequence[dict[str, Any]] = (),
    changes: Sequence[Any] = (),
) -> dict[str, Any]:
    write_json(output / REPORT_FILE, report)
    plot_live_errors(
        output / MONITOR_PLOT_FILE,
        history,
        [(c.seen_on, c.model_version) for c in changes],
        title=f"live error vs naive, as of {report.get('as_of') or 'undated data'}",
        empty=report["message"],
    )
    log.info(report["message"])
    return report


def registered_version(decision_dir: str | Path | None) -> int | None:
    """The version this run's register step created, from its decision.json (None: none)."""
    path = Path(decision_dir) / DECISION_FILE if decision_dir else None
    if path is None or not path.is_file():
        return None
    decision = json.loads(path.read_text())
    return int(decision["version"]) if decision.get("registered") else None


def run_monitor(cfg: DictConfig) -> dict[str, Any]:
    output = Path(cfg.monitor.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    prepared = PreparedData.load(cfg.monitor.prepared_dir)
    report: dict[str, Any] = {
        "as_of": None,
        "champion": None,
        "stored": 0,
        "registered_version": registered_version(cfg.monitor.decision_dir),
    }
    if not prepared.meta.get("has_dates"):
        message = (
            "the monitor needs dated data to match forecasts with the days they target, and "
            f"{cfg.monitor.prepared_dir} has none; use a dated source (e.g. data=csv with a date "
            "column)"
        )
        return finish(output, report | {"status": SKIPPED, "message": message})
    observed = observed_series(prepared)
    report["as_of"] = max(s.dates[-1] for s in observed)
    registry = ModelRegistry.from_config(cfg.registry)
    alias = cfg.register.alias
    store = sqlite_file(registry.tracking_uri)
    champion = None if store is not None and not store.is_file() else registry.champion(alias)
    if champion is None:
        message = f"{registry.model_name} has no {alias} yet, so no forecast was stored"
        return finish(output, report | {"status": NO_CHAMPION, "message": message})

    ledger = Ledger(ledger_path(cfg), cfg.monitor.ledger_timeout_s)
    window = (prepared.window.previous_time_window, prepared.window.next_time_window)
    ledger.record_champion(registry.model_name, alias, champion.version, report["as_of"], "seen")
    try:
        stored = store_champion_forecast(ledger, registry, champion, observed, output, window)
    except ArtifactError as err:
        return finish(
            output,
            report
            | {"champion": champion.version, "status": SKIPPED, "message": str(err).rstrip(".")},
        )

    matured, waiting = mature(ledger.forecasts(registry.model_name), observed)
    scale = prepared.mase_scale
    by_version: dict[int, list[Matured]] = {}
    for m in matured:
        by_version.setdefault(m.forecast.model_version, []).append(m)
    window_size = int(cfg.monitor.window)
    champion_live = live_scores(
        last_origins(by_version.get(champion.version, []), window_size), scale
    )
    flag = judge(cfg, champion_live, champion.version)
    rollback = None
    status = FLAGGED if flag["flagged"] else OK
    if flag["flagged"] and cfg.monitor.rollback:
        rollback = roll_back(cfg, registry, ledger, champion, flag["reason"], report["as_of"])
        if rollback["done"]:
            status = ROLLED_BACK
            restored = registry.resolve(version=rollback["to"])
            stored += store_champion_forecast(ledger, registry, restored, observed, output, window)
    message = f"{registry.model_name} version {champion.version} ({alias}): {flag['reason']}"
    if rollback is not None:
        message += (
            f"; {alias} rolled back to version {rollback['to']}"
            if rollback["done"]
            else f"; {rollback['reason']}"
        )
    changes = ledger.champion_history(registry.model_name, alias)
    report |= {
        "status": status,
        "message": message,
        "champion": champion.version,
        "stored": stored,
        "waiting": waiting,
        "window": window_size,
        "live": live_scores(last_origins(matured, window_size), scale),
        "champion_live": champion_live,
        "versions": {str(v): live_scores(rows, scale) for v, rows in sorted(by_version.items())},
        "flag": flag,
        "rollback": rollback,
        "champion_history": [vars(c) for c in changes],
        "ledger": str(ledger.path),
    }
    history = origin_history(matured)
    finish(output, report, history, changes)
    report["mlflow_run_id"] = log_to_mlflow(cfg, registry, report, output)
    return report


main = hydra_task(run_monitor)

if __name__ == "__main__":
    main()
