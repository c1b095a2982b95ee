"""Replay: the daily schedule simulated on one machine, one day of new data after another.

`python -m stockcast.orchestration.replay days=30` (what `make replay` runs) runs the whole step
table once per day the data gains values on, ending at `replay.end` (default today): its own
dates, weekends included for data that trades on them, month ends for monthly data (any other
day's run would find no new data). Each day runs with `data.as_of` set to that day, in this
process (imports paid once), into a store of its own inside the run directory. So a day
trains on exactly the data the schedule would have seen, the monitor scores the forecasts
earlier days stored, and a champion that decays is flagged (and rolled back with
`monitor.rollback`).

The run directory gets `replay.json` (the replay's plan, written before the first day, and one
entry per day, in order, written after every day) and `replay.png`. A replay into a fresh store
is deterministic: the same versions and numbers every time, which is also what lets a stopped
replay resume (`replay.resume_from`) and end as an uninterrupted one would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.config.compose import LOCAL_STORE_DB, local_store_overrides, local_store_uri
from stockcast.config.overrides import hydra_quoted, override_key
from stockcast.config.task import hydra_task
from stockcast.errors import ConfigError, StockcastError, counted
from stockcast.files import folder_not_made, write_json
from stockcast.orchestration.preflight import check_training_builds
from stockcast.orchestration.replay_day_start import keep_day_start, restore_day_start
from stockcast.orchestration.replay_days import (
    data_as_of,
    planned_days,
    refuse_own_day,
    refuse_undated,
)
from stockcast.orchestration.replay_plot import plot_replay
from stockcast.orchestration.replay_record import (
    DAYS_DIR,
    REPLAY_FILE,
    REPLAY_PLOT_FILE,
    day_entry,
    log_appended_to,
    plan_path,
    planned,
    recorded_replay,
    registered_on,
    replay_goes_on,
    set_aside,
    store_champion,
)
from stockcast.orchestration.runner import (
    TIMINGS_FILE,
    refuse_another_config,
    run_pipeline,
    user_overrides,
)
from stockcast.orchestration.step_run import timing_table
from stockcast.registry.connection import open_client
from stockcast.registry.ledger import LEDGER_FILE
from stockcast.registry.ledger_check import check_ledger_folder
from stockcast.registry.signing import SigningKeys, check_signing_keys

log = logging.getLogger(__name__)

# Held by the process running a replay's days, so a resume cannot run them a second time at once.
REPLAY_LOCK_FILE = "replay.lock"
# Hydra's log file of the replay task (configs/hydra/default.yaml: <task_name>.log).
REPLAY_LOG_FILE = "replay.log"
# The replay's own config, which holds the pipeline's (configs/replay.yaml).
REPLAY_CONFIG = "replay"
# Keys of the replay config that are not pipeline settings: never passed on to the steps.
OWN_KEYS = ("days", "replay")


def pipeline_overrides(
    given: Sequence[str],
    store: Path,
    ledger_dir: Path | None = None,
    require_new_data: bool = True,
) -> list[str]:
    """The user's overrides minus the replay's own keys and the store settings the replay
    replaces with its own store (and the ledger folder, as an absolute path: a relative one
    would move with the folder a resume is started from); every day must bring new data, but
    the rerun of a day stopped after registering (`require_new_data` false)."""
    forced = [
        *local_store_overrides(store),
        f"data.require_new_data={str(require_new_data).lower()}",
    ]
    if ledger_dir is not None:
        forced.append(f"monitor.ledger_dir={hydra_quoted(str(ledger_dir))}")
    replaced = {override_key(o) for o in forced}
    own = tuple(f"{key}=" for key in OWN_KEYS) + tuple(f"{key}." for key in OWN_KEYS)
    kept = [
        o for o in given if not o.lstrip("+~").startswith(own) and override_key(o) not in replaced
    ]
    return [*kept, *forced]


def run_replay(cfg: DictConfig) -> dict[str, Any]:
    refuse_another_config(REPLAY_CONFIG)
    # Keys every day's register step would refuse after its training, an optimizer or schedule
    # every day's train step could not build, an accelerator this machine lacks: refused once,
    # first.
    check_signing_keys(SigningKeys.from_config(cfg.registry.get("signing")))
    check_training_builds(cfg)
    if cfg.replay.resume_from:
        return resume_replay(cfg)
    refuse_own_day(user_overrides())
    run_dir = Path(cfg.paths.output_dir)
    store = Path(cfg.replay.store_dir)
    # Refused before the store is made: a refused plan must leave no store to refuse its rerun.
    days = planned_days(cfg, int(cfg.days))
    if (store / LOCAL_STORE_DB).exists():
        raise ConfigError(
            f"replay.store_dir {store} already holds a store; a replay starts from a fresh one: "
            "pick another folder or remove it (or resume the replay it belongs to with "
            "replay.resume_from)."
        )
    ledger_dir = cfg.monitor.ledger_dir
    if (Path(ledger_dir or store) / LEDGER_FILE).exists():
        where = f"monitor.ledger_dir {ledger_dir}" if ledger_dir else f"replay.store_dir {store}"
        raise ConfigError(
            f"{where} already holds a forecast ledger, whose versions would be mixed with the "
            "fresh store's (they start at 1 again): pick another folder or remove it."
        )
    if ledger_dir:  # else beside the store, made next
        check_ledger_folder(ledger_dir, local_store_uri(store))
    reason = folder_not_made(store)
    if reason is not None:
        raise ConfigError(
            f"cannot make replay.store_dir {store} ({reason.lower()}); set replay.store_dir to a "
            "folder that can be made."
        )
    # The store's database exists before the first day starts, so each day's start is a copy
    # that goes back onto it (`restore_day_start`), never a file to delete under MLflow.
    uri = local_store_uri(store)
    open_client(uri, uri, create=True)
    plan = {
        "days": days,
        "store_dir": plan_path(store, run_dir),
        "ledger_dir": plan_path(Path(ledger_dir), run_dir) if ledger_dir else None,
        "overrides": user_overrides(),
    }
    return run_days(cfg, run_dir, plan, [])


def resume_replay(cfg: DictConfig) -> dict[str, Any]:
    """Go on with the replay in `replay.resume_from` from its first unfinished day, into its own
    run directory and store, with the days and overrides it recorded when it started (the days
    of a replay ending today would otherwise move with the clock)."""
    run_dir = Path(cfg.replay.resume_from).expanduser()
    given = [o for o in user_overrides() if override_key(o) != "replay.resume_from"]
    # This resume's own run directory sits beside those of the replays it can go on with.
    plan, entries = recorded_replay(run_dir, given, Path(cfg.paths.output_dir).parent)
    days = plan["days"]
    refuse_undated(data_as_of(cfg, days[-1]))
    where = (
        f"at day {len(entries) + 1}/{len(days)} ({days[len(entries)]})"
        if len(entries) < len(days)
        else f"after its last day, to draw {REPLAY_PLOT_FILE}"
    )
    ledger_dir = planned(plan.get("ledger_dir"), run_dir)
    if ledger_dir is not None:  # as a new replay checks it: the days' monitors write there
        check_ledger_folder(str(ledger_dir), "")
    with log_appended_to(run_dir / REPLAY_LOG_FILE):
        log.info("resuming the replay in %s %s", run_dir, where)
        return run_days(cfg, run_dir, plan, entries)


def run_days(
    cfg: DictConfig, run_dir: Path, plan: dict[str, Any], entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run the plan's days after those `entries` record, into `run_dir` and the plan's store,
    holding the run directory's lock (one process runs a replay's days); `replay.json` holds the
    plan and every day's entry, written before the first day and after every day, so a replay
    stopped part way can be resumed."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(run_dir / REPLAY_LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(
            f"the replay in {run_dir} is running in another process; wait for it to end, or stop "
            "it and resume it then."
        ) from None
    try:
        return _run_days(cfg, run_dir, plan, entries)
    finally:
        lock.release()


def _run_days(
    cfg: DictConfig, run_dir: Path, plan: dict[str, Any], entries: list[dict[str, Any]]
) -> dict[str, Any]:
    store = planned(plan["store_dir"], run_dir)
    ledger_dir = planned(plan.get("ledger_dir"), run_dir)
    days = plan["days"]
    summary = {"plan": plan, "days": entries}
    write_json(run_dir / REPLAY_FILE, summary)
    # What a day's start is copied from and restored to (`replay_day_start`), by role.
    databases = {"store": store / LOCAL_STORE_DB, "ledger": (ledger_dir or store) / LEDGER_FILE}
    # This process's days whose pipeline failed, with their errors.
    failed: list[tuple[str, str]] = []
    ran = len(days) - len(entries)
    for number, as_of in enumerate(days[len(entries) :], len(entries) + 1):
        day_dir = run_dir / DAYS_DIR / as_of
        # A day that started before (its start was copied) runs again from the store and ledger
        # as it found them, restored before anything else (a resume stopped part way restores
        # again); what it left is kept aside. A replay from before starts were copied: if the
        # stopped day had registered its version, the rerun's data is not new, the version it
        # registered stands for the rerun's, and no start is copied from that store.
        restored = restore_day_start(run_dir, as_of, databases)
        interrupted = set_aside(day_dir)
        registered = (
            None
            if interrupted is None or restored
            else registered_on(cfg.registry.model_name, store, as_of)
        )
        if interrupted is None or restored:
            keep_day_start(run_dir, as_of, databases)
        overrides = pipeline_overrides(
            plan["overrides"], store, ledger_dir, require_new_data=registered is None
        )
        warm = _warm_start(cfg, entries)
        started, error = time.perf_counter(), None
        try:
            timings = run_pipeline(
                day_dir,
                [*overrides, f"data.as_of={as_of}", *warm],
                set(cfg),
                executor=cfg.pipeline.executor,
            )
            (day_dir / TIMINGS_FILE).write_text(timing_table(timings) + "\n")
        except StockcastError as err:
            error = str(err)
            failed.append((as_of, error))
        entries.append(day_entry(day_dir, as_of, time.perf_counter() - started, error))
        if entries[-1]["champion_version"] is None:
            # The day failed before its monitor, which names the champion: ask the store.
            entries[-1]["champion_version"] = store_champion(cfg, store)
        if interrupted is not None:
            entries[-1]["interrupted_run"] = str(interrupted.relative_to(run_dir))
        if interrupted is not None or restored:
            entries[-1]["restored_day_start"] = restored
            # Registered before the stop, its version is the champion the rerun compared with
            # (unless the rerun failed: its error stays the day's record).
            if registered is not None and error is None and not entries[-1]["registered_version"]:
                entries[-1].update(registered_version=registered, refusal=None)
        _log_day(number, len(days), entries[-1])
        write_json(run_dir / REPLAY_FILE, summary)
    plot_replay(run_dir / REPLAY_PLOT_FILE, cfg, ledger_dir or store, run_dir, entries)
    print(f"replay of {counted(len(days), 'day')}: {run_dir / REPLAY_FILE}")
    if ran == len(days) and len(failed) == ran and not any(e["champion_version"] for e in entries):
        # Every day of a new replay refused the same way (a setting no day can run with): exit
        # status 0 said the replay had run.
        as_of, error = failed[-1]
        raise StockcastError(
            f"every day of the replay failed and none left a champion (the last, {as_of}: "
            f"{error.rstrip('.')}); fix that and start a new replay."
        )
    return summary


def _warm_start(cfg: DictConfig, entries: list[dict[str, Any]]) -> list[str]:
    """With `replay.warm_start`, the override that starts a day from the champion the days
    before it left, named by its version rather than the alias: the rerun of a day stopped
    after registering then starts where the uninterrupted replay did, not from the version
    that day registered."""
    champions = [e["champion_version"] for e in entries if e["champion_version"]]
    if not cfg.replay.warm_start or not champions:
        return []
    return [f"train.init_from={champions[-1]}"]


def _log_day(number: int, total: int, entry: dict[str, Any]) -> None:
    live = entry["live"]
    score = (
        f"live MASE {live['mase']:.3f} vs naive {live['naive_mase']:.3f} ({live['matured']} "
        "matured)"
        if live["mase"] is not None
        else "nothing matured yet"
    )
    outcome = (
        f"registered v{entry['registered_version']}"
        if entry["registered_version"]
        else f"not registered ({entry['refusal']})"
    )
    champion = (
        f"champion v{entry['champion_version']}" if entry["champion_version"] else "no champion"
    )
    print(
        f"day {number}/{total} {entry['as_of']}: {outcome}; {champion}; {score}; "
        f"{entry['seconds']:.1f} s",
        flush=True,
    )


main = hydra_task(run_replay, REPLAY_CONFIG, timed=False, goes_on=replay_goes_on)

if __name__ == "__main__":
    main()
