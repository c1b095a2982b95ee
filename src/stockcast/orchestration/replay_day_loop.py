"""Running a replay's days one after another, each through the whole step table into the
replay's own store, with `data.as_of` set to that day; `replay.json` is written before the first
day and after every day, so a replay stopped part way can be resumed."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.config.compose import LOCAL_STORE_DB, local_store_overrides
from stockcast.config.overrides import hydra_quoted, override_key
from stockcast.errors import LedgerUnusable, StockcastError, counted
from stockcast.files import write_json
from stockcast.orchestration.replay_day_start import keep_day_start, restore_day_start
from stockcast.orchestration.replay_locks import held_or_refused
from stockcast.orchestration.replay_plot import plot_replay
from stockcast.orchestration.replay_record import (
    DAYS_DIR,
    REPLAY_FILE,
    REPLAY_PLOT_FILE,
    day_entry,
    planned,
    registered_on,
    set_aside,
    store_champion,
)
from stockcast.orchestration.runner import TIMINGS_FILE, run_pipeline
from stockcast.orchestration.step_run import timing_table
from stockcast.registry.ledger import LEDGER_FILE
from stockcast.registry.ledger_check import ledger_write_blocked

# Held by the process running a replay's days, so a resume cannot run them a second time at once.
REPLAY_LOCK_FILE = "replay.lock"
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


@contextmanager
def days_held(run_dir: Path) -> Iterator[None]:
    """Hold the lock of the replay in `run_dir` while its days run (one process runs a
    replay's days), taken before any other of its locks: a resume beside the process running
    it is told so, not that another replay holds its store's or ledger's folder."""
    running_elsewhere = (
        f"the replay in {run_dir} is running in another process; wait for it to end, or stop it "
        "and resume it then."
    )
    with held_or_refused(run_dir / REPLAY_LOCK_FILE, running_elsewhere):
        yield


def run_days(
    cfg: DictConfig, run_dir: Path, plan: dict[str, Any], entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run the plan's days after those `entries` record, into `run_dir` and the plan's store,
    the caller holding `days_held(run_dir)`; `replay.json` holds the plan and every day's entry,
    written before the first day and after every day, so a replay stopped part way can be
    resumed."""
    store = planned(plan["store_dir"], run_dir)
    ledger_dir = planned(plan.get("ledger_dir"), run_dir)
    days = plan["days"]
    summary = {"plan": plan, "days": entries}
    write_json(run_dir / REPLAY_FILE, summary)
    # What a day's start is copied from and restored to (`replay_day_start`), by role.
    databases = {"store": store / LOCAL_STORE_DB, "ledger": (ledger_dir or store) / LEDGER_FILE}
    # How long a copy of a day's start waits for a database another run holds.
    wait_s = float(cfg.monitor.ledger_timeout_s)
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
        restored = restore_day_start(run_dir, as_of, databases, wait_s)
        interrupted = set_aside(day_dir)
        registered = (
            None
            if interrupted is None or restored
            else registered_on(cfg.registry.model_name, store, as_of)
        )
        if interrupted is None or restored:
            keep_day_start(run_dir, as_of, databases, wait_s)
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
            _stop_at_a_blocked_ledger(
                cfg, run_dir, databases["ledger"], f"{number}/{len(days)}", as_of
            )
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
    try:
        plot_replay(run_dir / REPLAY_PLOT_FILE, cfg, ledger_dir or store, run_dir, entries)
    except LedgerUnusable as err:
        # Its own advice, to rerun, would start a new replay: a resume only draws the plot.
        raise StockcastError(
            f"the replay ran all its days, but its plot could not read the forecast ledger "
            f"{databases['ledger']} ({err.detail}); once no other run holds it, add "
            f"replay.resume_from={run_dir} to the same command to draw {REPLAY_PLOT_FILE}."
        ) from None
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


def _stop_at_a_blocked_ledger(
    cfg: DictConfig, run_dir: Path, ledger: Path, number: str, as_of: str
) -> None:
    """Stop the replay at a failed day whose ledger cannot be written (another run holds it):
    recorded as failed, the day's forecast was lost for good (its rerun finds no new data), and
    so were every later day's. Not recorded, the day runs again on a resume, from its start."""
    blocked = ledger_write_blocked(ledger, cfg.monitor.ledger_timeout_s)
    if blocked is not None:
        raise StockcastError(
            f"day {number} ({as_of}) of the replay could not write its forecast ledger {ledger} "
            f"({blocked}), so the replay stopped there rather than lose that day's forecast; "
            f"once it can be written (no other run holding it), add replay.resume_from={run_dir} "
            "to the same command to run the day again."
        )


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
