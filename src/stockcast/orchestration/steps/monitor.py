"""Monitor step: ledger + prepared folder -> monitor/ (live scores, flag, optional rollback).

Each run stores the champion's forecast from the data's last date (the as_of origin) in the
forecast ledger, then scores every ledger forecast whose steps have all arrived in the data:
per model version, and over the last `monitor.window` matured origins, against the naive
forecast made at the same origin. A champion whose live error exceeds `monitor.max_ratio_vs_naive`
times the naive one is flagged and, with `monitor.rollback=true`, the alias goes back to the
previous champion the monitor saw. A forecast of a series no longer in the data is reported as
orphaned, not waiting. Needs dated data: a forecast matures on the values after its origin date.
Data that ends before the last day the ledger holds (a rerun of an earlier day) is skipped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.config.task import hydra_task
from stockcast.data.prepared import PreparedData
from stockcast.errors import ArtifactError, DamagedVersion, LedgerUnusable, first_few
from stockcast.evaluation.live import score_live
from stockcast.evaluation.live_verdict import judge
from stockcast.evaluation.maturity import observed_series, orphaned_report, overdue_report
from stockcast.evaluation.monitor_status import (
    DAMAGED,
    FLAGGED,
    NO_CHAMPION,
    OK,
    REFUSED,
    ROLLED_BACK,
    SKIPPED,
    before_champion_data,
    before_ledger_day,
    skipped_day,
    undated,
)
from stockcast.orchestration.replay_locks import refuse_a_replays_ledger
from stockcast.orchestration.steps.monitor_outputs import (
    finish,
    finish_logged,
    monitor_experiment,
    registered_version,
)
from stockcast.orchestration.steps.monitor_rollback import restore_previous, rollback_outcome
from stockcast.orchestration.steps.table_step import table_step
from stockcast.paths import portable_path
from stockcast.prediction.ledger_forecast import store_champion_forecast
from stockcast.registry.champion_state import damaged, last_champion, lost, refused
from stockcast.registry.ledger import (
    LEDGER_FILE,
    Ledger,
    champion_since,
    ledger_folder,
    ledger_path,
)
from stockcast.registry.lock import sqlite_file
from stockcast.registry.rollback import mark_flagged
from stockcast.registry.store import ModelRegistry

SHOWN_SERIES = 5  # how many series the log names

log = logging.getLogger(__name__)


@table_step("monitor")
def run_monitor(cfg: DictConfig) -> dict[str, Any]:
    # Refused in one sentence by `table_step` where it cannot be written, before the ledger is.
    output = Path(cfg.monitor.output_dir)
    # Run alone (or by a pipeline) beside a replay writing the same ledger, its store's claim
    # on the ledger would lose the replay's later days their forecasts; the replay's own days
    # are not refused.
    folder = ledger_folder(cfg.monitor.ledger_dir, cfg.registry.tracking_uri)
    if folder is not None:
        refuse_a_replays_ledger(folder / LEDGER_FILE, "monitor step")
    prepared = PreparedData.load(cfg.monitor.prepared_dir)
    report: dict[str, Any] = {
        "as_of": None,
        "champion": None,
        "stored": 0,
        "registered_version": registered_version(cfg.monitor.decision_dir),
    }
    if not prepared.meta.get("has_dates"):
        shown = portable_path(str(cfg.monitor.prepared_dir), Path(cfg.paths.output_dir))
        return finish(output, report | {"status": SKIPPED, "message": undated(shown)})
    observed = observed_series(prepared)
    report["as_of"] = max(s.dates[-1] for s in observed)
    registry = ModelRegistry.from_config(cfg.registry)
    alias = cfg.registry.champion_alias
    store = sqlite_file(registry.tracking_uri)
    champion = None if store is not None and not store.is_file() else registry.champion(alias)
    if champion is None:
        ledger_dir, timeout_s = cfg.monitor.ledger_dir, cfg.monitor.ledger_timeout_s
        seen = last_champion(registry, alias, store, ledger_dir, timeout_s)
        if seen is not None:
            return finish(
                output,
                report | {"status": NO_CHAMPION, "message": lost(registry, alias, seen)},
                level=logging.WARNING,
            )
        message = f"{registry.model_name} has no {alias} yet, so no forecast was stored"
        return finish(output, report | {"status": NO_CHAMPION, "message": message})
    # Every day with a champion is logged there: a deleted experiment is refused now, before
    # anything is stored or moved, not after.
    monitor_experiment(cfg, registry)
    message = before_champion_data(prepared.meta.get("last_date"), registry, champion, alias)
    if message is not None:
        return finish_logged(cfg, registry, output, report | skipped_day(champion, message))

    ledger = Ledger(
        ledger_path(cfg.monitor.ledger_dir, registry.tracking_uri), cfg.monitor.ledger_timeout_s
    )
    ledger_roots = [Path(f) for f in (cfg.monitor.ledger_dir, store and store.parent) if f]
    ledger.claim_store(registry.model_name, registry.registered_stamp())
    last_day = ledger.last_day(registry.model_name)
    message = before_ledger_day(report["as_of"], last_day, registry.model_name)
    if message is not None:
        return finish_logged(cfg, registry, output, report | skipped_day(champion, message))
    ledger.record_champion(registry.model_name, alias, champion.version, report["as_of"], "seen")
    try:
        stored = store_champion_forecast(ledger, registry, champion, observed, output)
    except LedgerUnusable:  # the day's forecast cannot be kept: the step fails, not skips
        raise
    except DamagedVersion as err:
        # Kept by a refused candidate, a damaged champion leaves predict and serve with nothing
        # to open: said as a warning, with the fix, not as a quiet skip; with monitor.rollback,
        # the alias goes back to the previous champion that opens, as for a decayed one.
        report |= {"champion": champion.version, "status": DAMAGED, "rollback": None}
        by_candidates = bool(cfg.gate.require_beat_champion)
        message = damaged(registry, champion, alias, err, by_candidates)
        if cfg.monitor.rollback:
            reason = f"its files {err.how}"
            rollback, stored = restore_previous(
                alias, registry, ledger, champion, reason, report["as_of"], observed, output
            )
            status = ROLLED_BACK if rollback["done"] else DAMAGED
            report |= {"status": status, "rollback": rollback, "stored": stored}
            message = damaged(registry, champion, alias, err, by_candidates, rollback["done"])
            message += rollback_outcome(rollback, alias)
        return finish_logged(
            cfg, registry, output, report | {"message": message}, level=logging.WARNING
        )
    except ArtifactError as err:
        # Not a skip: predict and serve refuse the champion for the same reason, every day
        # until the reason is mended.
        report |= {"champion": champion.version, "status": REFUSED}
        message = refused(registry, champion, alias, err)
        return finish_logged(
            cfg, registry, output, report | {"message": message}, level=logging.WARNING
        )

    window = int(cfg.monitor.window)
    scores = score_live(
        ledger.forecasts(registry.model_name),
        observed,
        champion.version,
        window,
        prepared.splits["train"],
        champion_since(ledger.champion_history(registry.model_name, alias), champion.version),
    )
    # Series today's panel left out as too short (prepare's `left_out_series`): still in the
    # data, their forecasts wait for them to come back in, rather than being gone.
    left_out = set(prepared.meta.get("left_out_series") or {})
    orphans = orphaned_report(scores.orphaned_by_series, left_out)
    gone = orphans["orphaned_series"]
    if gone:
        log.warning(
            "ledger forecasts of %d series no longer in the data cannot mature while the series "
            "stays out of it: %s",
            len(gone),
            first_few(gone, SHOWN_SERIES),
        )
    # Waiting forecasts of series far behind the others (`mature`): late, or stopped.
    overdue = overdue_report(scores.overdue_by_series, observed)
    if overdue["overdue"]:
        log.warning(
            "%d waiting ledger forecasts are overdue: the data's latest date (%s) is past their "
            "last target dates by as long again as they span, but %d series end before it "
            "(last values: %s); "
            "late values mature them, and a series that has stopped should leave the data",
            overdue["overdue"],
            report["as_of"],
            len(overdue["overdue_series"]),
            first_few(
                [f"{name} on {date}" for name, date in overdue["overdue_series"].items()],
                SHOWN_SERIES,
            ),
        )
    flag = judge(cfg, scores.champion, champion.version)
    rollback = None
    status = FLAGGED if flag["flagged"] else OK
    if flag["flagged"]:
        mark_flagged(registry, champion, report["as_of"], flag["reason"])
    if flag["flagged"] and cfg.monitor.rollback:
        rollback, restored_stored = restore_previous(
            alias, registry, ledger, champion, flag["reason"], report["as_of"], observed, output
        )
        stored += restored_stored
        if rollback["done"]:
            status = ROLLED_BACK
    message = f"{registry.model_name} version {champion.version} ({alias}): {flag['reason']}"
    if rollback is not None:
        message += rollback_outcome(rollback, alias)
    changes = ledger.champion_history(registry.model_name, alias)
    report |= {
        "status": status,
        "message": message,
        "champion": champion.version,
        "stored": stored,
        "waiting": scores.waiting,
        # Of those, the forecasts of series far behind the others, and each such series' last
        # date: late data, or a series that stopped.
        **overdue,
        # Forecasts whose origin today's data no longer reaches back to: not scored.
        "before_data": scores.before_data,
        # Forecasts of series gone from today's data, which the ledger keeps but never scores,
        # and of those today's panel left out as too short (data.as_of).
        **orphans,
        "window": window,
        "live": scores.overall,
        "champion_live": scores.champion,
        "versions": scores.by_version,
        "flag": flag,
        "rollback": rollback,
        "champion_history": [vars(c) for c in changes],
        # In monitor.ledger_dir (or beside the store): the report is logged and copied.
        "ledger": portable_path(str(ledger.path), *ledger_roots),
    }
    return finish_logged(cfg, registry, output, report, scores.history, changes)


main = hydra_task(run_monitor)

if __name__ == "__main__":
    main()
