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
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.config.compose import LOCAL_STORE_DB, local_store_uri
from stockcast.config.overrides import override_key
from stockcast.config.task import hydra_task
from stockcast.data.prepared import data_hash
from stockcast.errors import ConfigError
from stockcast.files import folder_not_made
from stockcast.orchestration.preflight import check_training_builds
from stockcast.orchestration.replay_day_loop import days_held, run_days
from stockcast.orchestration.replay_days import (
    data_as_of,
    planned_days,
    refuse_own_day,
    refuse_undated,
)
from stockcast.orchestration.replay_locks import (
    held_or_refused,
    refuse_running_pipelines,
    replay_writes_ledger,
)
from stockcast.orchestration.replay_record import (
    DAYS_DIR,
    REPLAY_PLOT_FILE,
    RESUME_KEY,
    log_appended_to,
    plan_path,
    planned,
    recorded_replay,
    refuse_other_data,
    replay_goes_on,
    resumed_run_dir,
)
from stockcast.orchestration.runner import refuse_another_config, user_overrides
from stockcast.orchestration.steps.run_folders import refuse_set_ports
from stockcast.registry.connection import open_client
from stockcast.registry.ledger import LEDGER_FILE
from stockcast.registry.ledger_check import check_ledger_folder
from stockcast.registry.signing import SigningKeys, check_signing_keys

log = logging.getLogger(__name__)

# Hydra's log file of the replay task (configs/hydra/default.yaml: <task_name>.log).
REPLAY_LOG_FILE = "replay.log"
# The replay's own config, which holds the pipeline's (configs/replay.yaml).
REPLAY_CONFIG = "replay"
# What a new replay refused a ledger folder another replay writes is told to do.
NEW_LEDGER_FIX = "set monitor.ledger_dir to another folder for this one"
# What a resume refused the same is told to do.
RESUME_FIX = "resume this one once it has ended"
# Held in replay.store_dir by the replay whose store it is, named apart from the run folder's
# lock: a store kept in the replay's own run folder was held twice, and refused as another's.
STORE_LOCK_FILE = "replay_store.lock"


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
    # Each day's steps get their folders in the day's run folder, after the user's overrides.
    refuse_set_ports(cfg, run_dir / DAYS_DIR / days[0], run="each day of a replay")
    _refuse_a_store(store)
    ledger_dir = cfg.monitor.ledger_dir
    _refuse_a_ledger(store, ledger_dir)
    # Else beside the store, made next.
    ledger_folder = (
        check_ledger_folder(ledger_dir, local_store_uri(store)).parent if ledger_dir else None
    )
    reason = folder_not_made(store)
    if reason is not None:
        raise ConfigError(
            f"cannot make replay.store_dir {store} ({reason.lower()}); set replay.store_dir to a "
            "folder that can be made."
        )
    # Held while the store is made and its days run: two replays started at once into one folder
    # both found it fresh (MLflow takes seconds to make its database) and mixed their versions.
    running_there = (
        f"replay.store_dir {store} is the store of another replay running now; pick another "
        "folder for this one."
    )
    with (
        days_held(run_dir),
        held_or_refused(store / STORE_LOCK_FILE, running_there),
        _ledger_held(ledger_folder, store, NEW_LEDGER_FIX, run_dir),
    ):
        # Made by the replay that held the locks before this one.
        _refuse_a_store(store)
        _refuse_a_ledger(store, ledger_dir)
        _refuse_running_pipelines(ledger_folder, store, NEW_LEDGER_FIX)
        # The store's database exists before the first day starts, so each day's start is a
        # copy that goes back onto it (`restore_day_start`), never a file to delete under
        # MLflow.
        uri = local_store_uri(store)
        open_client(uri, uri, create=True)
        plan = {
            "days": days,
            # What a resume checks its data against: the data as of the last day holds every
            # day's.
            "data_hash": data_hash(list(data_as_of(cfg, days[-1]))),
            "store_dir": plan_path(store, run_dir),
            "ledger_dir": plan_path(Path(ledger_dir), run_dir) if ledger_dir else None,
            "overrides": user_overrides(),
        }
        return run_days(cfg, run_dir, plan, [])


def _refuse_a_store(store: Path) -> None:
    """A new replay starts from a fresh store: one there would mix its versions with the new."""
    if (store / LOCAL_STORE_DB).exists():
        raise ConfigError(
            f"replay.store_dir {store} already holds a store; a replay starts from a fresh one: "
            "pick another folder or remove it (or resume the replay it belongs to with "
            "replay.resume_from)."
        )


def _refuse_a_ledger(store: Path, ledger_dir: str | None) -> None:
    """A new replay starts from a fresh ledger too: one there would mix its versions with the
    new store's."""
    if (Path(ledger_dir or store) / LEDGER_FILE).exists():
        where = f"monitor.ledger_dir {ledger_dir}" if ledger_dir else f"replay.store_dir {store}"
        raise ConfigError(
            f"{where} already holds a forecast ledger, whose versions would be mixed with the "
            "fresh store's (they start at 1 again): pick another folder or remove it."
        )


def _ledger_held(
    ledger_folder: Path | None, store: Path, fix: str, run_dir: Path
) -> AbstractContextManager[None]:
    """The ledger lock of the folder the days of the replay in `run_dir` write the ledger in:
    monitor.ledger_dir, else the store's folder, which the store's own lock does not guard (a
    pipeline on that store, or another replay's monitor.ledger_dir there)."""
    if ledger_folder is not None:
        where = f"monitor.ledger_dir {ledger_folder}"
        return replay_writes_ledger(ledger_folder, where, fix, run_dir)
    return replay_writes_ledger(store, f"replay.store_dir {store}", fix, run_dir)


def _refuse_running_pipelines(ledger_folder: Path | None, store: Path, fix: str) -> None:
    """A pipeline writing the ledger folder the replay's days would write (the store's folder
    without monitor.ledger_dir): its monitor would claim the ledger for its own store."""
    if ledger_folder is not None:
        refuse_running_pipelines(ledger_folder, f"monitor.ledger_dir {ledger_folder}", fix)
    else:
        refuse_running_pipelines(store, f"replay.store_dir {store}", fix)


def resume_replay(cfg: DictConfig) -> dict[str, Any]:
    """Go on with the replay in `replay.resume_from` from its first unfinished day, into its own
    run directory and store, with the days and overrides it recorded when it started (the days
    of a replay ending today would otherwise move with the clock)."""
    run_dir = resumed_run_dir(cfg.replay.resume_from)
    given = [o for o in user_overrides() if override_key(o) != RESUME_KEY]
    # This resume's own run directory sits beside those of the replays it can go on with.
    plan, entries = recorded_replay(run_dir, given, Path(cfg.paths.output_dir).parent)
    days = plan["days"]
    # Only days to run read the data: the plot draws the days' own prepared data, not the file,
    # so a resume that only draws it goes on after the file was moved or removed.
    if len(entries) < len(days):
        series = data_as_of(cfg, days[-1])
        refuse_undated(series)
        refuse_other_data(run_dir, plan, series)
    where = (
        f"at day {len(entries) + 1}/{len(days)} ({days[len(entries)]})"
        if len(entries) < len(days)
        else f"after its last day, to draw {REPLAY_PLOT_FILE}"
    )
    ledger_dir = planned(plan.get("ledger_dir"), run_dir)
    if ledger_dir is not None:  # as a new replay checks it: the days' monitors write there
        check_ledger_folder(str(ledger_dir), "")
    store = planned(plan["store_dir"], run_dir)
    with (
        # The run folder's first: a resume beside the process running the replay is told so.
        days_held(run_dir),
        _ledger_held(ledger_dir, store, RESUME_FIX, run_dir),
        log_appended_to(run_dir / REPLAY_LOG_FILE),
    ):
        _refuse_running_pipelines(ledger_dir, store, RESUME_FIX)
        log.info("resuming the replay in %s %s", run_dir, where)
        return run_days(cfg, run_dir, plan, entries)


main = hydra_task(run_replay, REPLAY_CONFIG, timed=False, goes_on=replay_goes_on)

if __name__ == "__main__":
    main()
